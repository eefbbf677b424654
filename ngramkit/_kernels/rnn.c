/* RNN kernels (see rnn.h and ngramkit/rnn/reference.py for the maths): the
 * public entry points allocate workspaces and dispatch, once per call, to the
 * AVX-512 or AVX2+FMA copy of rnn_simd.h when the CPU has it, else to the baseline copy.
 * The class softmax runs its two factors on two threads (NGRAMKIT_THREADS=1
 * disables that); everything else is single-threaded. The caller releases the GIL. */
#include "rnn.h"
#include "fpmode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#define NK_HAVE_PTHREAD 1
#endif

typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
#define NK_NR_MAX 32 /* the widest copy's NK_NR: workspaces are sized for it */

/* baseline copy */
#define VF vf8
#define VI vi8
#define NK_W 8
#define NK_NR 16
#define NK_ATTR
#define NK_INLINE static inline __attribute__((always_inline))
#define NK(x) base_##x
#include "rnn_simd.h"
#undef NK
#undef NK_INLINE
#undef NK_ATTR

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NK_HAVE_X86 1
#define NK_ATTR __attribute__((target("avx2,fma")))
#define NK_INLINE static inline __attribute__((always_inline, target("avx2,fma")))
#define NK(x) avx2_##x
#include "rnn_simd.h"
#undef NK
#undef NK_INLINE
#undef NK_ATTR
#undef VF
#undef VI
#undef NK_W
#undef NK_NR

#define VF vf16
#define VI vi16
#define NK_W 16
#define NK_NR 32
#define NK_ATTR __attribute__((target("avx512f,avx2,fma")))
#define NK_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))
#define NK(x) avx512_##x
#include "rnn_simd.h"
#undef NK
#undef NK_INLINE
#undef NK_ATTR
#endif

/* 0 baseline, 1 AVX2+FMA, 2 AVX-512F: the best the CPU has, capped by
 * NGRAMKIT_SIMD=generic|avx2|avx512 (tests use it to run every copy). */
static int simd_level(void) {
#ifdef NK_HAVE_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        int level = 0;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            level = 1;
            if (__builtin_cpu_supports("avx512f")) level = 2;
        }
        const char *env = getenv("NGRAMKIT_SIMD");
        if (env && !strcmp(env, "generic")) level = 0;
        else if (env && !strcmp(env, "avx2") && level > 1) level = 1;
        cached = level;
    }
    return cached;
#else
    return 0;
#endif
}

#ifdef NK_HAVE_X86
#define DISPATCH(fn, ...)                                                                            \
    (simd_level() == 2 ? avx512_##fn(__VA_ARGS__) : simd_level() == 1 ? avx2_##fn(__VA_ARGS__)       \
                                                                    : base_##fn(__VA_ARGS__))
#else
#define DISPATCH(fn, ...) base_##fn(__VA_ARGS__)
#endif

const char *nk_simd(void) {
    static const char *names[] = {"generic", "avx2+fma", "avx512f"};
    return names[simd_level()];
}

static ptrdiff_t maxp(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

static float *falloc(ptrdiff_t n) { return (float *)malloc((size_t)maxp(n, 1) * sizeof(float)); }

int nk_gemm(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
            float *C, ptrdiff_t ldc) {
    float *wsp = falloc(NK_NR_MAX * K);
    if (!wsp) return NK_ERR_NOMEM;
    nk_fpmode fpm = nk_flush_denormals();
    DISPATCH(gemm_nn, M, N, K, A, lda, 1, B, ldb, C, ldc, wsp);
    nk_restore_fpmode(fpm);
    free(wsp);
    return 0;
}

int nk_rnn_forward(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *xw, const float *h0,
                   const float *c0, const float *Wh, const float *bh, const float *peep, float *hs, float *ct,
                   float *gates, float *extra) {
    float *wsp = falloc(NK_NR_MAX * H), *tmp = falloc(H);
    int rc = 0;
    nk_fpmode fpm = nk_flush_denormals();
    if (!wsp || !tmp) rc = NK_ERR_NOMEM;
    else DISPATCH(rnn_forward, cell, T, B, H, xw, h0, c0, Wh, bh, peep, hs, ct, gates, extra, wsp, tmp);
    nk_restore_fpmode(fpm);
    free(wsp);
    free(tmp);
    return rc;
}

int nk_rnn_backward(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *dhs, const float *dhT,
                    const float *dcT, const float *hs, const float *gates, const float *extra, const float *h0,
                    const float *c0, const float *Wh, const float *peep, float *dxw, float *dpre, float *dh0,
                    float *dc0, float *dWh, float *dbh) {
    const ptrdiff_t GH = cell * H;
    float *wsp = falloc(NK_NR_MAX * maxp(GH, T * B)), *tmp = falloc(H), *WhT = falloc(GH * H);
    int rc = 0;
    nk_fpmode fpm = nk_flush_denormals();
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
    DISPATCH(rnn_backward, cell, T, B, H, dhs, hs, gates, extra, h0, c0, WhT, peep, dxw, dpre, dh0, dc0, wsp, tmp);
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
    nk_restore_fpmode(fpm);
    free(wsp);
    free(tmp);
    free(WhT);
    return rc;
}

int nk_log_softmax_xent(ptrdiff_t N, ptrdiff_t V, float *z, const float *b, const int32_t *targets, float scale,
                        int need_grad, double *logp, float *db) {
    nk_fpmode fpm = nk_flush_denormals();
    DISPATCH(log_softmax_xent, N, V, z, b, targets, scale, need_grad, logp, db);
    nk_restore_fpmode(fpm);
    return 0;
}

typedef struct {
    ptrdiff_t N, H, C;
    const float *h, *Wc, *bc;
    const int32_t *cls;
    float scale;
    int need_grad;
    double *logp;
    float *dh, *dWc, *dbc, *zc, *wct, *wsp;
} class_job;

static void *run_class_part(void *arg) {
    class_job *j = arg;
    DISPATCH(class_part, j->N, j->H, j->C, j->h, j->Wc, j->bc, j->cls, j->scale, j->need_grad, j->logp, j->dh,
             j->dWc, j->dbc, j->zc, j->wct, j->wsp);
    return NULL;
}

/* Threads for the class softmax: NGRAMKIT_THREADS if set (1 disables), else 2
 * when the machine has at least 2 processors. */
static int kernel_threads(void) {
    const char *env = getenv("NGRAMKIT_THREADS");
    if (env && *env) return atoi(env) > 1 ? 2 : 1;
#ifdef NK_HAVE_PTHREAD
    return sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
#else
    return 1;
#endif
}

int nk_class_softmax_xent(ptrdiff_t N, ptrdiff_t H, ptrdiff_t C, ptrdiff_t V, const float *h, const float *Wc,
                          const float *bc, const float *Ww, const float *bw, const int32_t *bounds,
                          const int32_t *targets, float scale, int need_grad, double *logp, float *dh, float *dWc,
                          float *dbc, float *dWw, float *dbw) {
    ptrdiff_t maxw = 1;
    for (ptrdiff_t c = 0; c < C; c++) maxw = maxp(maxw, bounds[c + 1] - bounds[c]);
    float *zc = falloc(N * C), *hk = falloc(N * H), *zk = falloc(N * maxw), *dhk = falloc(N * H);
    float *wsp1 = falloc(NK_NR_MAX * maxp(maxp(H, N), C)), *wsp2 = falloc(NK_NR_MAX * maxp(maxp(H, N), maxw));
    float *wk = falloc(H * maxw), *wct = falloc(C * H), *dh2 = falloc(N * H);
    double *logw = (double *)malloc((size_t)maxp(N, 1) * sizeof(double));
    int32_t *ints = (int32_t *)malloc((size_t)(2 * N + C + 1) * sizeof(int32_t));
    int rc = 0;
    nk_fpmode fpm = nk_flush_denormals(); /* before the second thread starts: it inherits the mode */
    if (!zc || !hk || !zk || !dhk || !wsp1 || !wsp2 || !wk || !wct || !dh2 || !logw || !ints) {
        rc = NK_ERR_NOMEM;
        goto done;
    }
    int32_t *cls = ints, *order = ints + N, *start = ints + 2 * N;
    for (ptrdiff_t n = 0; n < N; n++) { /* class of each target: bounds[lo] <= t < bounds[hi] */
        int32_t lo = 0, hi = (int32_t)C, t = targets[n];
        while (hi - lo > 1) {
            int32_t mid = (lo + hi) / 2;
            if (bounds[mid] <= t) lo = mid;
            else hi = mid;
        }
        cls[n] = lo;
    }
    memset(start, 0, (size_t)(C + 1) * sizeof(int32_t)); /* group tokens by class (counting sort) */
    for (ptrdiff_t n = 0; n < N; n++) start[cls[n] + 1]++;
    for (ptrdiff_t c = 0; c < C; c++) start[c + 1] += start[c];
    for (ptrdiff_t n = 0; n < N; n++) order[start[cls[n]]++] = (int32_t)n;
    for (ptrdiff_t c = C; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    /* the two factors are independent: the class part may run on a second thread */
    class_job job = {N, H, C, h, Wc, bc, cls, scale, need_grad, logp, dh, dWc, dbc, zc, wct, wsp1};
    int threaded = 0;
#ifdef NK_HAVE_PTHREAD
    pthread_t th;
    if (kernel_threads() > 1 && N * H >= 4096) threaded = pthread_create(&th, NULL, run_class_part, &job) == 0;
#endif
    if (!threaded) run_class_part(&job);
    DISPATCH(word_part, N, H, C, V, h, Ww, bw, bounds, targets, order, start, scale, need_grad, logw, dh2, dWw, dbw,
             hk, zk, dhk, wk, wsp2);
#ifdef NK_HAVE_PTHREAD
    if (threaded) pthread_join(th, NULL);
#endif
    for (ptrdiff_t n = 0; n < N; n++) logp[n] += logw[n];
    if (need_grad)
        for (ptrdiff_t k = 0; k < N * H; k++) dh[k] += dh2[k];
done:
    nk_restore_fpmode(fpm);
    free(zc);
    free(hk);
    free(zk);
    free(dhk);
    free(wsp1);
    free(wsp2);
    free(wk);
    free(wct);
    free(dh2);
    free(logw);
    free(ints);
    return rc;
}
