/* RNN kernels (see rnn.h and ngramkit/rnn/reference.py for the maths): the
 * public entry points allocate workspaces and dispatch, once per call, to the
 * AVX2+FMA copy of rnn_simd.h when the CPU has it, else to the baseline copy.
 * Single-threaded; the caller releases the GIL. */
#include "rnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

/* baseline copy */
#define NK_ATTR
#define NK_INLINE static inline __attribute__((always_inline))
#define NK(x) base_##x
#include "rnn_simd.h"
#undef NK
#undef NK_INLINE
#undef NK_ATTR

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NK_HAVE_AVX2 1
#define NK_ATTR __attribute__((target("avx2,fma")))
#define NK_INLINE static inline __attribute__((always_inline, target("avx2,fma")))
#define NK(x) avx2_##x
#include "rnn_simd.h"
#undef NK
#undef NK_INLINE
#undef NK_ATTR
#endif

static int use_avx2(void) {
#ifdef NK_HAVE_AVX2
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !getenv("NGRAMKIT_NO_AVX2");
    }
    return cached;
#else
    return 0;
#endif
}

#ifdef NK_HAVE_AVX2
#define DISPATCH(fn, ...) (use_avx2() ? avx2_##fn(__VA_ARGS__) : base_##fn(__VA_ARGS__))
#else
#define DISPATCH(fn, ...) base_##fn(__VA_ARGS__)
#endif

const char *nk_simd(void) { return use_avx2() ? "avx2+fma" : "generic"; }

static ptrdiff_t maxp(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

static float *falloc(ptrdiff_t n) { return (float *)malloc((size_t)maxp(n, 1) * sizeof(float)); }

int nk_gemm(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
            float *C, ptrdiff_t ldc) {
    float *wsp = falloc(16 * K);
    if (!wsp) return NK_ERR_NOMEM;
    DISPATCH(gemm_nn, M, N, K, A, lda, 1, B, ldb, C, ldc, wsp);
    free(wsp);
    return 0;
}

int nk_rnn_forward(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *xw, const float *h0,
                   const float *c0, const float *Wh, const float *bh, float *hs, float *ct, float *gates,
                   float *extra) {
    float *wsp = falloc(16 * H), *tmp = falloc(H);
    int rc = 0;
    if (!wsp || !tmp) rc = NK_ERR_NOMEM;
    else DISPATCH(rnn_forward, cell, T, B, H, xw, h0, c0, Wh, bh, hs, ct, gates, extra, wsp, tmp);
    free(wsp);
    free(tmp);
    return rc;
}

int nk_rnn_backward(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *dhs, const float *dhT,
                    const float *dcT, const float *hs, const float *gates, const float *extra, const float *h0,
                    const float *c0, const float *Wh, float *dxw, float *dpre, float *dh0, float *dc0, float *dWh,
                    float *dbh) {
    const ptrdiff_t GH = cell * H;
    float *wsp = falloc(16 * maxp(GH, T * B)), *tmp = falloc(H), *WhT = falloc(GH * H);
    int rc = 0;
    if (!wsp || !tmp || !WhT) {
        rc = NK_ERR_NOMEM;
        goto done;
    }
    /* dh_{t-1} = dpre Wh^T is done as dpre (B,GH) x WhT (GH,H): transposing once
     * lets every step use the register-blocked row-major kernel. */
    for (ptrdiff_t i = 0; i < H; i++)
        for (ptrdiff_t j = 0; j < GH; j++) WhT[j * H + i] = Wh[i * GH + j];
    if (dhT) memcpy(dh0, dhT, (size_t)(B * H) * sizeof(float));
    else memset(dh0, 0, (size_t)(B * H) * sizeof(float));
    if (cell == NK_LSTM) {
        if (dcT) memcpy(dc0, dcT, (size_t)(B * H) * sizeof(float));
        else memset(dc0, 0, (size_t)(B * H) * sizeof(float));
    }
    DISPATCH(rnn_backward, cell, T, B, H, dhs, hs, gates, extra, h0, c0, WhT, dxw, dpre, dh0, dc0, wsp, tmp);
    /* dWh = [h0; hs[:-1]]^T dpre: one (H x T*B) x (T*B x GH) product, in two parts */
    const float *dp = cell == NK_GRU ? dpre : dxw;
    memset(dWh, 0, (size_t)(H * GH) * sizeof(float));
    memset(dbh, 0, (size_t)GH * sizeof(float));
    if (T > 0) {
        DISPATCH(gemm_nn, H, GH, B, h0, 1, H, dp, GH, dWh, GH, wsp);
        DISPATCH(gemm_nn, H, GH, (T - 1) * B, hs, 1, H, dp + B * GH, GH, dWh, GH, wsp);
    }
    for (ptrdiff_t r = 0; r < T * B; r++)
        for (ptrdiff_t j = 0; j < GH; j++) dbh[j] += dp[r * GH + j];
done:
    free(wsp);
    free(tmp);
    free(WhT);
    return rc;
}

int nk_log_softmax_xent(ptrdiff_t N, ptrdiff_t V, float *z, const float *b, const int32_t *targets, float scale,
                        int need_grad, double *logp, float *db) {
    DISPATCH(log_softmax_xent, N, V, z, b, targets, scale, need_grad, logp, db);
    return 0;
}

int nk_class_softmax_xent(ptrdiff_t N, ptrdiff_t H, ptrdiff_t C, ptrdiff_t V, const float *h, const float *Wc,
                          const float *bc, const float *Ww, const float *bw, const int32_t *bounds,
                          const int32_t *targets, float scale, int need_grad, double *logp, float *dh, float *dWc,
                          float *dbc, float *dWw, float *dbw) {
    ptrdiff_t maxw = 1;
    for (ptrdiff_t c = 0; c < C; c++) maxw = maxp(maxw, bounds[c + 1] - bounds[c]);
    float *zc = falloc(N * C), *hk = falloc(N * H), *zk = falloc(N * maxw), *dhk = falloc(N * H);
    float *wsp = falloc(16 * maxp(maxp(H, N), maxp(C, maxw))), *wk = falloc(H * maxw), *wct = falloc(C * H);
    int32_t *ints = (int32_t *)malloc((size_t)(2 * N + C + 1) * sizeof(int32_t));
    int rc = 0;
    if (!zc || !hk || !zk || !dhk || !wsp || !wk || !wct || !ints) rc = NK_ERR_NOMEM;
    else
        DISPATCH(class_softmax_xent, N, H, C, V, h, Wc, bc, Ww, bw, bounds, targets, scale, need_grad, logp, dh,
                 dWc, dbc, dWw, dbw, zc, hk, zk, dhk, wk, wct, wsp, ints, ints + N, ints + 2 * N);
    free(wk);
    free(wct);
    free(zc);
    free(hk);
    free(zk);
    free(dhk);
    free(wsp);
    free(ints);
    return rc;
}
