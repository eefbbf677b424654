/* Backoff (ARPA) n-gram scoring kernel: plain C over int32/int64/double buffers, no Python.h.
 *
 * Input: a padded id stream (each sentence "<s> w1 .. wn </s>", sentence i spans
 * padded[offsets[i] .. offsets[i+1]-1]) and, per order k = 1..N, the model's sorted
 * keys (row of the (k-1)-word prefix * V + last word; order 1: the word id), log10
 * probabilities (NaN = context-only entry) and log10 backoff weights; for orders
 * k >= 2 an open-addressing hash table of the keys (built by ngk_hash_build: slot i
 * holds key and row in table[2i], table[2i+1], key -1 = empty, linear probing);
 * uni_row ((V,) int32) maps a word id to its order-1 row (-1: absent).
 * Output: out[t] = log10 P(token) for every padded position but the <s> of each
 * sentence, in stream order (-inf when even the unigram is absent). */
#ifndef NGRAMKIT_SCORE_H
#define NGRAMKIT_SCORE_H

#include <stdint.h>

#define NGK_SCORE_MAX_ORDER 16

typedef struct {
    int order;                       /* N */
    int64_t vocab;                   /* V */
    const int32_t *uni_row;          /* (V,) */
    const int64_t *keys[NGK_SCORE_MAX_ORDER];
    const int64_t *n_rows;           /* (N,) M_k */
    const double *logp10[NGK_SCORE_MAX_ORDER];
    const double *backoff10[NGK_SCORE_MAX_ORDER];
    const int64_t *table[NGK_SCORE_MAX_ORDER]; /* orders 2..N (index k-1); (2 * slots,) int64 */
    int64_t slots[NGK_SCORE_MAX_ORDER];        /* power of two */
    int suffix_closed; /* every n-gram's suffix is in the model: stop at the first absent order */
} ngk_backoff_model;

/* Fill `table` ((2 * slots,) int64, slots a power of two > m) with the m keys and their rows.
 * Returns 0, or -1 if slots is not a power of two larger than m, -2 on a negative or duplicate key. */
int ngk_hash_build(const int64_t *keys, int64_t m, int64_t *table, int64_t slots);

/* Returns the number of scores written, or -1 on an id outside 0..V-1 (error). */
int64_t ngk_backoff_score(const ngk_backoff_model *m, const int32_t *padded, const int64_t *offsets,
                          int64_t n_sentences, double *out);

/* out[i] = row of queries[i] in a hash_build table, or -1. */
void ngk_hash_find(const int64_t *table, int64_t slots, const int64_t *queries, int64_t n, int64_t *out);

/* Rows of the n-grams ending at every padded position: rows[(k-1) * P + t] = row of the
 * k-gram ending at t in order k (-1: absent, or it would reach before the sentence's <s>).
 * Uses m->uni_row, m->table, m->slots only. Returns 0, or -1 on an id outside 0..V-1. */
int64_t ngk_stream_rows(const ngk_backoff_model *m, const int32_t *padded, const int64_t *offsets,
                        int64_t n_sentences, int64_t *rows);

#endif
