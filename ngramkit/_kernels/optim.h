/* Fused optimiser updates over float32 parameter buffers (ngramkit.rnn.train).
 * Input: parameter p, gradient g (scaled by gscale, the clipping factor), optimiser
 * state; output: p (and m, v) updated in place, one pass over memory. */
#ifndef NGK_OPTIM_H
#define NGK_OPTIM_H
#include <stddef.h>
#include <stdint.h>

/* p -= alpha * g */
void ngk_sgd(float *p, const float *g, size_t n, float alpha);

/* Adam (Kingma & Ba 2015, algorithm 1 with the bias corrections folded into step and eps):
 * gi = gscale * g; m = b1 m + (1-b1) gi; v = b2 v + (1-b2) gi^2; p -= step * m / (sqrt(v) + eps) */
void ngk_adam(float *p, const float *g, float *m, float *v, size_t n, float gscale, float b1, float b2,
              float step, float eps);

/* Row-sparse forms for a (rows, e) parameter: only rows ids[0..u) move; g holds one row per id. */
void ngk_sgd_rows(float *p, const float *g, const int64_t *ids, size_t u, size_t e, float alpha);
void ngk_adam_rows(float *p, const float *g, float *m, float *v, const int64_t *ids, size_t u, size_t e,
                   float gscale, float b1, float b2, float step, float eps);

/* out[inv[i]] += values[i] for the n rows of width e (segment sums of the embedding gradient) */
void ngk_add_rows(float *out, const float *values, const int64_t *inv, size_t n, size_t e);

/* sum of squares, accumulated in double */
double ngk_sumsq(const float *g, size_t n);
#endif
