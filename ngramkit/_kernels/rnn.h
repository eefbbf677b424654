/* RNN kernels: plain C over float32 / int32 buffers (no Python). The maths and
 * the array layouts are those of ngramkit/rnn/reference.py (read its module
 * docstring): row-major (C-contiguous) arrays, gates in G blocks of H columns
 * (rnn: h; lstm: i f g o; gru: r z n), natural logs.
 * Every function returns 0, or NK_ERR_NOMEM if a workspace could not be
 * allocated (outputs are then undefined). */
#ifndef NGRAMKIT_RNN_H
#define NGRAMKIT_RNN_H

#include <stddef.h>
#include <stdint.h>

#define NK_RNN 1
#define NK_GRU 3
#define NK_LSTM 4
#define NK_ERR_NOMEM (-1)

/* Name of the code path chosen at run time ("avx512f", "avx2+fma" or "generic"). */
const char *nk_simd(void);

/* C[M,N] += A[M,K] B[K,N], all row-major with leading dimensions lda/ldb/ldc. */
int nk_gemm(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
            float *C, ptrdiff_t ldc);

/* Forward over T steps. xw (T,B,G*H), h0 (B,H), c0 (B,H) (lstm, else unused),
 * Wh (H,G*H), bh (G*H), peep (3,H) peephole weights p_i, p_f, p_o (lstm only;
 * NULL for none). Outputs: hs (T,B,H), ct (B,H) (lstm), gates (T,B,G*H)
 * activations, extra (T,B,H): cell states (lstm) or h Wh_n + bh_n (gru). */
int nk_rnn_forward(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *xw, const float *h0,
                   const float *c0, const float *Wh, const float *bh, const float *peep, float *hs, float *ct,
                   float *gates, float *extra);

/* Backward over T steps. dhs (T,B,H); dhT, dcT (B,H) or NULL for zero; hs,
 * gates, extra, peep as given to / written by nk_rnn_forward. Outputs: dxw
 * (T,B,G*H) (the peephole gradient is computed from it outside); dpre
 * (T,B,G*H) gradient of the recurrent pre-activation h Wh + bh (gru only:
 * for rnn and lstm it equals dxw and may be NULL); dh0, dc0 (B,H); dWh (H,G*H)
 * = sum_t h_{t-1}^T dpre_t and dbh (G*H) = sum_t dpre_t (one product over all
 * T*B rows after the loop). */
int nk_rnn_backward(int cell, ptrdiff_t T, ptrdiff_t B, ptrdiff_t H, const float *dhs, const float *dhT,
                    const float *dcT, const float *hs, const float *gates, const float *extra, const float *h0,
                    const float *c0, const float *Wh, const float *peep, float *dxw, float *dpre, float *dh0,
                    float *dc0, float *dWh, float *dbh);

/* Row-wise log-softmax of z (N,V) + b: logp[n] = log softmax(z[n] + b)[t[n]].
 * If need_grad, z is overwritten with scale * (softmax - onehot) and db (V)
 * receives its column sums; otherwise z is clobbered. */
int nk_log_softmax_xent(ptrdiff_t N, ptrdiff_t V, float *z, const float *b, const int32_t *targets, float scale,
                        int need_grad, double *logp, float *db);

/* Class softmax (Mikolov): logp[n] = log P(c|h_n) + log P(t_n|c, h_n), class c
 * owning word ids bounds[c]..bounds[c+1]-1. If need_grad, writes (zeroing
 * first) dh (N,H), dWc (H,C), dbc (C), dWw (H,V), dbw (V) of -scale*sum(logp). */
int nk_class_softmax_xent(ptrdiff_t N, ptrdiff_t H, ptrdiff_t C, ptrdiff_t V, const float *h, const float *Wc,
                          const float *bc, const float *Ww, const float *bw, const int32_t *bounds,
                          const int32_t *targets, float scale, int need_grad, double *logp, float *dh, float *dWc,
                          float *dbc, float *dWw, float *dbw);

#endif
