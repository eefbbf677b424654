/* Fused optimiser updates over float32 parameter buffers (ngramkit.rnn.train).
 * Input: parameter p, gradient g (scaled by gscale, the clipping factor), optimiser
 * state; output: p (and m, v) updated in place, one pass over memory. */
#ifndef NGK_OPTIM_H
#define NGK_OPTIM_H
#include <stddef.h>

/* p -= alpha * g */
void ngk_sgd(float *p, const float *g, size_t n, float alpha);

/* Adam (Kingma & Ba 2015, algorithm 1 with the bias corrections folded into step and eps):
 * gi = gscale * g; m = b1 m + (1-b1) gi; v = b2 v + (1-b2) gi^2; p -= step * m / (sqrt(v) + eps) */
void ngk_adam(float *p, const float *g, float *m, float *v, size_t n, float gscale, float b1, float b2,
              float step, float eps);

/* sum of squares, accumulated in double */
double ngk_sumsq(const float *g, size_t n);
#endif
