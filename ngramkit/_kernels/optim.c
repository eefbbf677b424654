/* Fused optimiser updates; see optim.h. Plain C, no Python. The public
 * updates flush denormals to zero while they run (fpmode.h): Adam's second
 * moment of a tiny gradient is one, and denormal weights slow every product. */
#include <math.h>

#include "fpmode.h"
#include "optim.h"

static void sgd_run(float *restrict p, const float *restrict g, size_t n, float alpha) {
    for (size_t i = 0; i < n; i++) p[i] -= alpha * g[i];
}

void ngk_sgd(float *restrict p, const float *restrict g, size_t n, float alpha) {
    nk_fpmode fpm = nk_flush_denormals();
    sgd_run(p, g, n, alpha);
    nk_restore_fpmode(fpm);
}

static void adam_run(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                     float gscale, float b1, float b2, float step, float eps) {
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float gi = gscale * g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) + eps);
    }
}

void ngk_adam(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
              float gscale, float b1, float b2, float step, float eps) {
    nk_fpmode fpm = nk_flush_denormals();
    adam_run(p, g, m, v, n, gscale, b1, b2, step, eps);
    nk_restore_fpmode(fpm);
}

double ngk_sumsq(const float *restrict g, size_t n) {
    /* 8 float partial sums (vectorisable), flushed to double every 4096 elements */
    double total = 0.0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > 4096 ? i + 4096 : n;
        float acc[8] = {0};
        for (; i + 8 <= end; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += g[i + k] * g[i + k];
        for (; i < end; i++) acc[0] += g[i] * g[i];
        for (int k = 0; k < 8; k++) total += acc[k];
    }
    return total;
}

void ngk_sgd_rows(float *restrict p, const float *restrict g, const int64_t *ids, size_t u, size_t e, float alpha) {
    nk_fpmode fpm = nk_flush_denormals();
    for (size_t r = 0; r < u; r++) sgd_run(p + (size_t)ids[r] * e, g + r * e, e, alpha);
    nk_restore_fpmode(fpm);
}

void ngk_adam_rows(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                   const int64_t *ids, size_t u, size_t e, float gscale, float b1, float b2, float step, float eps) {
    nk_fpmode fpm = nk_flush_denormals();
    for (size_t r = 0; r < u; r++) {
        size_t off = (size_t)ids[r] * e;
        adam_run(p + off, g + r * e, m + off, v + off, e, gscale, b1, b2, step, eps);
    }
    nk_restore_fpmode(fpm);
}

void ngk_add_rows(float *restrict out, const float *restrict values, const int64_t *inv, size_t n, size_t e) {
    for (size_t i = 0; i < n; i++) {
        float *o = out + (size_t)inv[i] * e;
        const float *x = values + i * e;
        for (size_t k = 0; k < e; k++) o[k] += x[k];
    }
}
