/* Exact sampling from a backoff n-gram model, sentence by sentence, with a counter-based random stream.
 * The maths and the table layout: ngramkit/models/sampling.py (module docstring); this is its C kernel. */
#ifndef NGRAMKIT_SAMPLE_H
#define NGRAMKIT_SAMPLE_H

#include <stdint.h>

#define NGK_SAMPLE_MAX_ORDER 12

typedef struct {
    int order;               /* N */
    int64_t vocab;           /* V */
    int32_t bos, pad, eos;   /* ids never generated (bos, pad) and the sentence end */
    const int32_t *uni_row;  /* (V,) row of each word in order 1, -1 when absent */
    int64_t size[NGK_SAMPLE_MAX_ORDER];            /* M_k, k = 1..N at index k-1 */
    const int32_t *last[NGK_SAMPLE_MAX_ORDER];     /* (M_k,) last word of each row */
    const double *cum[NGK_SAMPLE_MAX_ORDER];       /* (M_k,) cumulative probability within the row's context */
    const uint8_t *real[NGK_SAMPLE_MAX_ORDER];     /* (M_k,) 1: an n-gram, 0: a context-only row */
    const int64_t *child[NGK_SAMPLE_MAX_ORDER];    /* (M_k + 1,) k < N: rows of order k+1 extending row r */
    const double *mass[NGK_SAMPLE_MAX_ORDER];      /* (M_k,) k < N: probability of row r's children (cum of its
                                                      last child, 0 when none), beside child[] for one miss */
} NgkSampler;

/* The 64-bit stream of sentence `sentence` under `seed` (splitmix64 keyed by both). */
uint64_t ngk_stream_key(uint64_t seed, uint64_t sentence);

/* Uniform draw number t (0, 1, ...) of a stream: a double in [0, 1) with 53 random bits. */
double ngk_uniform(uint64_t key, uint64_t t);

/* Sample sentences first .. first + count - 1 into tokens (capacity cap), each ending with eos; lengths[i]
 * receives sentence first + i's token count. Stops before a sentence that does not fit. Returns the number of
 * whole sentences written (>= 0), or -1 when a token needed more than max_draws uniform draws (a model whose
 * backoff mass is ~0 where it is needed), -2 when the unigram distribution has no mass. */
int64_t ngk_sample(const NgkSampler *m, uint64_t seed, int64_t first, int64_t count, int32_t *tokens, int64_t cap,
                   int64_t *lengths, int64_t max_draws);

/* Text of tokens: words joined by spaces, eos -> newline. words: concatenated bytes, offsets (V+1,).
 * Returns the bytes written to out (its size must be >= the sum of word lengths + 1 per token). */
int64_t ngk_render(const int32_t *tokens, int64_t n, const char *words, const int64_t *offsets, int32_t eos,
                   char *out);

#endif
