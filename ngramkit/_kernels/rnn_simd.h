/* Body of the RNN kernels, included twice by rnn.c: once compiled for the
 * baseline instruction set and once with NK_ATTR = target("avx2,fma"); rnn.c
 * picks one copy at run time (__builtin_cpu_supports). NK(x) mangles the names.
 * Vectors VF / VI are GCC/Clang vector extensions of NK_W floats / int32 (8:
 * one AVX register, two SSE registers in the baseline copy; 16: one AVX-512
 * register); NK_NR = 2 * NK_W. Portable C, no intrinsics. */

/* ------------------------------------------------------------------ vectors */
NK_INLINE VF NK(ld)(const float *p) {
    VF v;
    memcpy(&v, p, sizeof v);
    return v;
}

NK_INLINE void NK(st)(float *p, VF v) { memcpy(p, &v, sizeof v); }

NK_INLINE VF NK(splat)(float x) {
    VF v = {0};
    return v + x;
}

NK_INLINE float NK(hsum)(VF v) {
    float s = 0.0f;
    for (int i = 0; i < NK_W; i++) s += v[i];
    return s;
}

NK_INLINE VF NK(vmax)(VF a, VF b) {
    VI m = a < b; /* -1 where b is larger */
    return (VF)(((VI)a & ~m) | ((VI)b & m));
}

NK_INLINE VF NK(vmin)(VF a, VF b) {
    VI m = b < a; /* -1 where b is smaller */
    return (VF)(((VI)a & ~m) | ((VI)b & m));
}

/* exp(x), Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial,
 * 2^n by exponent bits; about 1 ulp. Inputs are clamped to [-87.3, 88.3]. */
NK_INLINE VF NK(vexp)(VF x) {
    const VF magic = NK(splat)(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    x = NK(vmax)(x, NK(splat)(-87.3f));
    x = NK(vmin)(x, NK(splat)(88.3f));
    VF t = x * 1.44269504088896341f + magic;
    VF n = t - magic;
    VI ni = (VI)t - (VI)magic;
    VF r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    VF p = NK(splat)(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    VI e = (ni + 127) << 23;
    return p * (VF)e;
}

NK_INLINE VF NK(vsigmoid)(VF x) { return 1.0f / (1.0f + NK(vexp)(-x)); }

/* tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): no overflow, absolute
 * error about 1e-7 (relative accuracy is lost only for |x| < 1e-4). */
NK_INLINE VF NK(vtanh)(VF x) {
    const VI sign = (VI)NK(splat)(-0.0f);
    VF ax = (VF)((VI)x & ~sign);
    VF e = NK(vexp)(-2.0f * ax);
    VF t = (1.0f - e) / (1.0f + e);
    return (VF)((VI)t | ((VI)x & sign));
}

/* y[i] = f(x[i]) for n floats (x may equal y). */
#define NK_MAP(fname, vfun)                                                                 \
    static NK_ATTR void NK(fname)(const float *x, float *y, ptrdiff_t n) {                  \
        ptrdiff_t i = 0;                                                                    \
        for (; i + NK_W <= n; i += NK_W) NK(st)(y + i, vfun(NK(ld)(x + i)));                      \
        if (i < n) {                                                                        \
            float buf[NK_W] = {0};                                                             \
            memcpy(buf, x + i, (size_t)(n - i) * sizeof(float));                            \
            NK(st)(buf, vfun(NK(ld)(buf)));                                                 \
            memcpy(y + i, buf, (size_t)(n - i) * sizeof(float));                            \
        }                                                                                   \
    }
NK_MAP(map_tanh, NK(vtanh))
NK_MAP(map_sigmoid, NK(vsigmoid))
#undef NK_MAP

/* z[i] = exp(z[i] - m) for n floats. */
static NK_ATTR void NK(map_exp_shift)(float *z, ptrdiff_t n, float m) {
    ptrdiff_t i = 0;
    for (; i + NK_W <= n; i += NK_W) NK(st)(z + i, NK(vexp)(NK(ld)(z + i) - m));
    if (i < n) {
        float buf[NK_W] = {0};
        memcpy(buf, z + i, (size_t)(n - i) * sizeof(float));
        NK(st)(buf, NK(vexp)(NK(ld)(buf) - m));
        memcpy(z + i, buf, (size_t)(n - i) * sizeof(float));
    }
}

/* ------------------------------------------------------------------ products */
/* C[0:mr, 0:NR] += A[0:mr, 0:K] B[0:K, 0:NR] (NR = NK_NR = 2 vectors); A(i,p) = A[i*rsa + p*csa].
 * 12 accumulators (mr = 6) stay in registers: the j loop is the vector. */
NK_INLINE void NK(ukr)(const int mr, ptrdiff_t K, const float *A, ptrdiff_t rsa, ptrdiff_t csa, const float *B,
                       ptrdiff_t ldb, float *C, ptrdiff_t ldc) {
    VF c0[6], c1[6];
    for (int r = 0; r < mr; r++) c0[r] = c1[r] = NK(splat)(0.0f);
    for (ptrdiff_t p = 0; p < K; p++) {
        VF b0 = NK(ld)(B + p * ldb), b1 = NK(ld)(B + p * ldb + NK_W);
        const float *a = A + p * csa;
        for (int r = 0; r < mr; r++) {
            float ar = a[r * rsa];
            c0[r] += ar * b0;
            c1[r] += ar * b1;
        }
    }
    for (int r = 0; r < mr; r++) {
        NK(st)(C + r * ldc, NK(ld)(C + r * ldc) + c0[r]);
        NK(st)(C + r * ldc + NK_W, NK(ld)(C + r * ldc + NK_W) + c1[r]);
    }
}

static NK_ATTR void NK(ukr_any)(int mr, ptrdiff_t K, const float *A, ptrdiff_t rsa, ptrdiff_t csa, const float *B,
                                ptrdiff_t ldb, float *C, ptrdiff_t ldc) {
    switch (mr) {
    case 6: NK(ukr)(6, K, A, rsa, csa, B, ldb, C, ldc); break;
    case 5: NK(ukr)(5, K, A, rsa, csa, B, ldb, C, ldc); break;
    case 4: NK(ukr)(4, K, A, rsa, csa, B, ldb, C, ldc); break;
    case 3: NK(ukr)(3, K, A, rsa, csa, B, ldb, C, ldc); break;
    case 2: NK(ukr)(2, K, A, rsa, csa, B, ldb, C, ldc); break;
    default: NK(ukr)(1, K, A, rsa, csa, B, ldb, C, ldc); break;
    }
}

/* C[M,N] += A[M,K] B[K,N]; A(i,p) = A[i*rsa + p*csa] (so A may be a
 * transposed view), B row-major. wsp holds K*NK_NR floats (pads the last
 * column panel when N is not a multiple of NK_NR). Column panels outermost, so a
 * KC x NK_NR slice of B stays in L1 while every row block uses it; row blocks are
 * balanced (M = 20 runs as 4 x 5 rows, not 6+6+6+2). */
#define NK_KC 256
static NK_ATTR void NK(gemm_nn)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t rsa,
                                ptrdiff_t csa, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc, float *wsp) {
    ptrdiff_t nblk = (M + 5) / 6, mr0 = nblk ? (M + nblk - 1) / nblk : 0;
    for (ptrdiff_t j0 = 0; j0 < N; j0 += NK_NR) {
        ptrdiff_t nr = N - j0 < NK_NR ? N - j0 : NK_NR;
        const float *Bp = B + j0;
        ptrdiff_t lb = ldb;
        if (nr < NK_NR) {
            for (ptrdiff_t p = 0; p < K; p++) {
                for (ptrdiff_t j = 0; j < NK_NR; j++) wsp[p * NK_NR + j] = j < nr ? B[p * ldb + j0 + j] : 0.0f;
            }
            Bp = wsp;
            lb = NK_NR;
        }
        for (ptrdiff_t k0 = 0; k0 < K; k0 += NK_KC) {
            ptrdiff_t kc = K - k0 < NK_KC ? K - k0 : NK_KC;
            for (ptrdiff_t i0 = 0; i0 < M; i0 += mr0) {
                int mr = (int)(M - i0 < mr0 ? M - i0 : mr0);
                const float *Ai = A + i0 * rsa + k0 * csa;
                if (nr == NK_NR) {
                    NK(ukr_any)(mr, kc, Ai, rsa, csa, Bp + k0 * lb, lb, C + i0 * ldc + j0, ldc);
                } else {
                    float tmp[6 * NK_NR] = {0};
                    NK(ukr_any)(mr, kc, Ai, rsa, csa, Bp + k0 * lb, lb, tmp, NK_NR);
                    for (int r = 0; r < mr; r++) {
                        for (ptrdiff_t j = 0; j < nr; j++) C[(i0 + r) * ldc + j0 + j] += tmp[r * NK_NR + j];
                    }
                }
            }
        }
    }
}

/* C[M,N] += A[M,K] B[N,K]^T (both row-major): dot products along contiguous
 * rows, 2 x 4 blocks of NK_W-lane partial sums. */
NK_INLINE void NK(ntblk)(const int mi, const int nj, ptrdiff_t K, const float *A, ptrdiff_t lda, const float *B,
                         ptrdiff_t ldb, float *C, ptrdiff_t ldc) {
    VF acc[2][4];
    for (int i = 0; i < mi; i++)
        for (int j = 0; j < nj; j++) acc[i][j] = NK(splat)(0.0f);
    ptrdiff_t p = 0;
    for (; p + NK_W <= K; p += NK_W) {
        VF a[2], b[4];
        for (int i = 0; i < mi; i++) a[i] = NK(ld)(A + i * lda + p);
        for (int j = 0; j < nj; j++) b[j] = NK(ld)(B + j * ldb + p);
        for (int i = 0; i < mi; i++)
            for (int j = 0; j < nj; j++) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < mi; i++) {
        for (int j = 0; j < nj; j++) {
            float s = NK(hsum)(acc[i][j]);
            for (ptrdiff_t q = p; q < K; q++) s += A[i * lda + q] * B[j * ldb + q];
            C[i * ldc + j] += s;
        }
    }
}

static NK_ATTR void NK(gemm_nt)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda,
                                const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc) {
    for (ptrdiff_t j0 = 0; j0 < N; j0 += 4) {
        int nj = (int)(N - j0 < 4 ? N - j0 : 4);
        const float *Bj = B + j0 * ldb;
        ptrdiff_t i0 = 0;
        if (nj == 4) {
            for (; i0 + 2 <= M; i0 += 2) NK(ntblk)(2, 4, K, A + i0 * lda, lda, Bj, ldb, C + i0 * ldc + j0, ldc);
            if (i0 < M) NK(ntblk)(1, 4, K, A + i0 * lda, lda, Bj, ldb, C + i0 * ldc + j0, ldc);
        } else {
            for (; i0 < M; i0++) {
                for (int j = 0; j < nj; j++) NK(ntblk)(1, 1, K, A + i0 * lda, lda, Bj + j * ldb, ldb, C + i0 * ldc + j0 + j, ldc);
            }
        }
    }
}

/* ------------------------------------------------------------------ cells */
static NK_ATTR void NK(rnn_forward)(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *xw,
                                    const float *h0, const float *c0, const float *Wh, const float *bh,
                                    const float *peep, float *hs, float *ct, float *gates, float *extra, float *wsp,
                                    float *tmp) {
    const ptrdiff_t G = cell, GH = G * H;
    for (ptrdiff_t s = 0; s < T; s++) {
        const float *hp = s ? hs + (s - 1) * B * H : h0;
        const float *x = xw + s * B * GH;
        float *a = gates + s * B * GH; /* pre-activations, then activations in place */
        for (ptrdiff_t b = 0; b < B; b++) {
            float *ab = a + b * GH;
            const float *xb = x + b * GH;
            if (cell == NK_GRU)
                for (ptrdiff_t j = 0; j < GH; j++) ab[j] = bh[j];
            else
                for (ptrdiff_t j = 0; j < GH; j++) ab[j] = xb[j] + bh[j];
        }
        NK(gemm_nn)(B, GH, H, hp, H, 1, Wh, GH, a, GH, wsp); /* a += h_{t-1} Wh */
        float *h = hs + s * B * H;
        for (ptrdiff_t b = 0; b < B; b++) {
            float *ab = a + b * GH, *hb = h + b * H;
            const float *hpb = hp + b * H;
            if (cell == NK_RNN) {
                NK(map_tanh)(ab, ab, H);
                memcpy(hb, ab, (size_t)H * sizeof(float));
            } else if (cell == NK_LSTM) {
                const float *cp = (s ? extra + (s - 1) * B * H : c0) + b * H;
                float *c = extra + s * B * H + b * H;
                if (peep) /* i and f see c_{t-1} */
                    for (ptrdiff_t j = 0; j < H; j++) {
                        ab[j] += peep[j] * cp[j];
                        ab[H + j] += peep[H + j] * cp[j];
                    }
                NK(map_sigmoid)(ab, ab, 2 * H);          /* i, f */
                NK(map_tanh)(ab + 2 * H, ab + 2 * H, H); /* g */
                for (ptrdiff_t j = 0; j < H; j++) c[j] = ab[H + j] * cp[j] + ab[j] * ab[2 * H + j];
                if (peep) /* o sees c_t */
                    for (ptrdiff_t j = 0; j < H; j++) ab[3 * H + j] += peep[2 * H + j] * c[j];
                NK(map_sigmoid)(ab + 3 * H, ab + 3 * H, H); /* o */
                NK(map_tanh)(c, tmp, H);
                for (ptrdiff_t j = 0; j < H; j++) hb[j] = ab[3 * H + j] * tmp[j];
            } else { /* gru */
                const float *xb = x + b * GH;
                float *hn = extra + s * B * H + b * H;
                memcpy(hn, ab + 2 * H, (size_t)H * sizeof(float));
                for (ptrdiff_t j = 0; j < 2 * H; j++) ab[j] += xb[j];
                NK(map_sigmoid)(ab, ab, 2 * H); /* r, z */
                for (ptrdiff_t j = 0; j < H; j++) ab[2 * H + j] = xb[2 * H + j] + ab[j] * hn[j];
                NK(map_tanh)(ab + 2 * H, ab + 2 * H, H); /* n */
                for (ptrdiff_t j = 0; j < H; j++) {
                    float z = ab[H + j];
                    hb[j] = (1.0f - z) * ab[2 * H + j] + z * hpb[j];
                }
            }
        }
    }
    if (cell == NK_LSTM) memcpy(ct, T ? extra + (T - 1) * B * H : c0, (size_t)(B * H) * sizeof(float));
}

static NK_ATTR void NK(rnn_backward)(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *dhs,
                                     const float *hs, const float *gates, const float *extra, const float *h0,
                                     const float *c0, const float *WhT, const float *peep, float *dxw, float *dpre,
                                     float *dh, float *dc, float *wsp, float *tmp) {
    const ptrdiff_t G = cell, GH = G * H;
    for (ptrdiff_t s = T - 1; s >= 0; s--) {
        const float *hp = s ? hs + (s - 1) * B * H : h0;
        const float *g = gates + s * B * GH;
        float *dx = dxw + s * B * GH;
        float *dp = cell == NK_GRU ? dpre + s * B * GH : dx;
        const float *dhs_s = dhs + s * B * H;
        for (ptrdiff_t k = 0; k < B * H; k++) dh[k] += dhs_s[k];
        for (ptrdiff_t b = 0; b < B; b++) {
            const float *gb = g + b * GH;
            float *dxb = dx + b * GH, *dpb = dp + b * GH, *dhb = dh + b * H;
            if (cell == NK_RNN) {
                for (ptrdiff_t j = 0; j < H; j++) dxb[j] = dhb[j] * (1.0f - gb[j] * gb[j]);
                for (ptrdiff_t j = 0; j < H; j++) dhb[j] = 0.0f;
            } else if (cell == NK_LSTM) {
                const float *c = extra + s * B * H + b * H;
                const float *cp = (s ? extra + (s - 1) * B * H : c0) + b * H;
                float *dcb = dc + b * H;
                const float *i = gb, *f = gb + H, *gg = gb + 2 * H, *o = gb + 3 * H;
                NK(map_tanh)(c, tmp, H);
                if (peep)
                    for (ptrdiff_t j = 0; j < H; j++) { /* c_t also feeds o; c_{t-1} also feeds i and f */
                        float tc = tmp[j], dao = dhb[j] * tc * o[j] * (1.0f - o[j]);
                        float d = dcb[j] + dhb[j] * o[j] * (1.0f - tc * tc) + dao * peep[2 * H + j];
                        float dai = d * gg[j] * i[j] * (1.0f - i[j]), daf = d * cp[j] * f[j] * (1.0f - f[j]);
                        dxb[j] = dai;
                        dxb[H + j] = daf;
                        dxb[2 * H + j] = d * i[j] * (1.0f - gg[j] * gg[j]);
                        dxb[3 * H + j] = dao;
                        dcb[j] = d * f[j] + dai * peep[j] + daf * peep[H + j];
                        dhb[j] = 0.0f;
                    }
                else
                    for (ptrdiff_t j = 0; j < H; j++) {
                        float tc = tmp[j], d = dcb[j] + dhb[j] * o[j] * (1.0f - tc * tc);
                        dxb[j] = d * gg[j] * i[j] * (1.0f - i[j]);
                        dxb[H + j] = d * cp[j] * f[j] * (1.0f - f[j]);
                        dxb[2 * H + j] = d * i[j] * (1.0f - gg[j] * gg[j]);
                        dxb[3 * H + j] = dhb[j] * tc * o[j] * (1.0f - o[j]);
                        dcb[j] = d * f[j];
                        dhb[j] = 0.0f;
                    }
            } else { /* gru */
                const float *r = gb, *z = gb + H, *n = gb + 2 * H;
                const float *hn = extra + s * B * H + b * H, *hpb = hp + b * H;
                for (ptrdiff_t j = 0; j < H; j++) {
                    float d = dhb[j], dan = d * (1.0f - z[j]) * (1.0f - n[j] * n[j]);
                    dxb[j] = dpb[j] = dan * hn[j] * r[j] * (1.0f - r[j]);
                    dxb[H + j] = dpb[H + j] = d * (hpb[j] - n[j]) * z[j] * (1.0f - z[j]);
                    dxb[2 * H + j] = dan;
                    dpb[2 * H + j] = dan * r[j];
                    dhb[j] = d * z[j]; /* the direct path z * h_{t-1} */
                }
            }
        }
        NK(gemm_nn)(B, H, GH, dp, GH, 1, WhT, H, dh, H, wsp); /* dh_{t-1} += dpre Wh^T */
    }
}

/* ------------------------------------------------------------------ softmax */
/* One row: z (n) += b; returns log softmax(z)[t] in double. If grad, z becomes
 * scale * (softmax - onehot(t)) and is added to db (if db); otherwise z is
 * left holding exp(z - max). */
static NK_ATTR double NK(lsm_row)(float *z, const float *b, ptrdiff_t n, ptrdiff_t t, float scale, int grad,
                                  float *db) {
    ptrdiff_t j = 0;
    VF vm = NK(splat)(-INFINITY);
    float m = -INFINITY;
    if (b) {
        for (; j + NK_W <= n; j += NK_W) {
            VF v = NK(ld)(z + j) + NK(ld)(b + j);
            NK(st)(z + j, v);
            vm = NK(vmax)(vm, v);
        }
        for (; j < n; j++) z[j] += b[j];
    } else {
        for (; j + NK_W <= n; j += NK_W) vm = NK(vmax)(vm, NK(ld)(z + j));
    }
    for (ptrdiff_t k = 0; k < NK_W; k++) m = vm[k] > m ? vm[k] : m;
    for (ptrdiff_t k = n - n % NK_W; k < n; k++) m = z[k] > m ? z[k] : m;
    float zt = z[t] - m;
    NK(map_exp_shift)(z, n, m);
    VF vs = NK(splat)(0.0f);
    for (j = 0; j + NK_W <= n; j += NK_W) vs += NK(ld)(z + j);
    double sum = NK(hsum)(vs);
    for (; j < n; j++) sum += z[j];
    double logp = (double)zt - log(sum);
    if (grad) {
        float k = (float)(scale / sum);
        for (j = 0; j < n; j++) z[j] *= k;
        z[t] -= scale;
        if (db)
            for (j = 0; j < n; j++) db[j] += z[j];
    }
    return logp;
}

static NK_ATTR void NK(log_softmax_xent)(ptrdiff_t N, ptrdiff_t V, float *z, const float *b, const int32_t *targets,
                                         float scale, int need_grad, double *logp, float *db) {
    if (need_grad) memset(db, 0, (size_t)V * sizeof(float));
    for (ptrdiff_t n = 0; n < N; n++) logp[n] = NK(lsm_row)(z + n * V, b, V, targets[n], scale, need_grad, db);
}

/* Class softmax, first factor: logp[n] = log P(cls[n] | h_n) with
 * P(c|h) = softmax(h Wc + bc). If need_grad writes (zeroing first) dh (N,H),
 * dWc (H,C), dbc (C). Workspaces: zc N*C, wct C*H, wsp NK_NR*max(H, N, C). */
static NK_ATTR void NK(class_part)(ptrdiff_t N, ptrdiff_t H, ptrdiff_t C, const float *h, const float *Wc,
                                   const float *bc, const int32_t *cls, float scale, int need_grad, double *logp,
                                   float *dh, float *dWc, float *dbc, float *zc, float *wct, float *wsp) {
    memset(zc, 0, (size_t)(N * C) * sizeof(float));
    NK(gemm_nn)(N, C, H, h, H, 1, Wc, C, zc, C, wsp); /* zc = h Wc (+ bc inside lsm_row) */
    if (need_grad) memset(dbc, 0, (size_t)C * sizeof(float));
    for (ptrdiff_t n = 0; n < N; n++) logp[n] = NK(lsm_row)(zc + n * C, bc, C, cls[n], scale, need_grad, dbc);
    if (!need_grad) return;
    memset(dh, 0, (size_t)(N * H) * sizeof(float));
    memset(dWc, 0, (size_t)(H * C) * sizeof(float));
    for (ptrdiff_t i = 0; i < H; i++)
        for (ptrdiff_t j = 0; j < C; j++) wct[j * H + i] = Wc[i * C + j];
    NK(gemm_nn)(N, H, C, zc, C, 1, wct, H, dh, H, wsp); /* dh += dzc Wc^T */
    NK(gemm_nn)(H, C, N, h, 1, H, zc, C, dWc, C, wsp); /* dWc += h^T dzc */
}

/* Class softmax, second factor: logp[n] = log P(t_n | cls[n], h_n), a softmax
 * over the class's words lo..hi-1. Tokens come grouped by class: order[start[c]
 * .. start[c+1]) are the rows of class c, so each class's columns Ww[:, lo:hi]
 * are packed once and used in small matrix products for all its tokens. If
 * need_grad writes (zeroing first) dh (N,H) (this factor's part only), dWw
 * (H,V), dbw (V). Workspaces: hk N*H, zk N*maxw, dhk N*H, wk H*maxw, wsp
 * NK_NR*max(H, N, maxw) (N: the dWw product runs over up to N tokens). */
static NK_ATTR void NK(word_part)(ptrdiff_t N, ptrdiff_t H, ptrdiff_t C, ptrdiff_t V, const float *h,
                                  const float *Ww, const float *bw, const int32_t *bounds, const int32_t *targets,
                                  const int32_t *order, const int32_t *start, float scale, int need_grad,
                                  double *logp, float *dh, float *dWw, float *dbw, float *hk, float *zk, float *dhk,
                                  float *wk, float *wsp) {
    if (need_grad) {
        memset(dh, 0, (size_t)(N * H) * sizeof(float));
        memset(dWw, 0, (size_t)(H * V) * sizeof(float));
        memset(dbw, 0, (size_t)V * sizeof(float));
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        ptrdiff_t nk = start[c + 1] - start[c];
        if (!nk) continue;
        const int32_t *ord = order + start[c];
        ptrdiff_t lo = bounds[c], nw = bounds[c + 1] - lo;
        for (ptrdiff_t k = 0; k < nk; k++) memcpy(hk + k * H, h + (ptrdiff_t)ord[k] * H, (size_t)H * sizeof(float));
        /* rows of Ww are V floats apart: reading them in place in every product costs TLB misses */
        for (ptrdiff_t i = 0; i < H; i++) memcpy(wk + i * nw, Ww + i * V + lo, (size_t)nw * sizeof(float));
        memset(zk, 0, (size_t)(nk * nw) * sizeof(float));
        NK(gemm_nn)(nk, nw, H, hk, H, 1, wk, nw, zk, nw, wsp); /* zk = hk Ww[:, lo:hi] */
        for (ptrdiff_t k = 0; k < nk; k++) {
            ptrdiff_t n = ord[k];
            logp[n] = NK(lsm_row)(zk + k * nw, bw + lo, nw, targets[n] - lo, scale, need_grad,
                                  need_grad ? dbw + lo : NULL);
        }
        if (!need_grad) continue;
        NK(gemm_nn)(H, nw, nk, hk, 1, H, zk, nw, dWw + lo, V, wsp); /* dWw[:, lo:hi] += hk^T dz */
        memset(dhk, 0, (size_t)(nk * H) * sizeof(float));
        NK(gemm_nt)(nk, H, nw, zk, nw, wk, nw, dhk, H); /* dhk = dz Ww[:, lo:hi]^T */
        for (ptrdiff_t k = 0; k < nk; k++) memcpy(dh + (ptrdiff_t)ord[k] * H, dhk + k * H, (size_t)H * sizeof(float));
    }
}
