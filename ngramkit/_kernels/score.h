/* Backoff (ARPA) n-gram scoring kernel: plain C over int32/int64/double buffers, no Python.h.
 *
 * Streams: a padded id stream holds each sentence as "<s> w1 .. wn </s>"; sentence i spans
 * padded[offsets[i] .. offsets[i+1]-1]. Models: per order k = 1..N, sorted keys (row of the
 * (k-1)-word prefix * V + last word; order 1: the word id), log10 probabilities (NaN =
 * context-only entry) and log10 backoff weights.
 *
 * The scorer (ngk_probe_build / ngk_probe_score, below) gives out[t] = log10 P(token) for
 * every padded position but the <s> of each sentence, in stream order.
 *
 * The row hash (ngk_hash_build / ngk_hash_find / ngk_stream_rows, for the count models and
 * for fitting): for orders k >= 2 an open-addressing table of the keys (slot i holds key
 * and row in table[2i], table[2i+1], key -1 = empty, linear probing); uni_row ((V,) int32)
 * maps a word id to its order-1 row (-1: absent). */
#ifndef NGRAMKIT_SCORE_H
#define NGRAMKIT_SCORE_H

#include <math.h>
#include <stdint.h>

#define NGK_SCORE_MAX_ORDER 16

typedef struct {
    int order;                                 /* N */
    int64_t vocab;                             /* V */
    const int32_t *uni_row;                    /* (V,) */
    const int64_t *table[NGK_SCORE_MAX_ORDER]; /* orders 2..N (index k-1); (2 * slots,) int64 */
    int64_t slots[NGK_SCORE_MAX_ORDER];        /* power of two */
} ngk_backoff_model;

/* Fill `table` ((2 * slots,) int64, slots a power of two > m) with the m keys and their rows.
 * Returns 0, or -1 if slots is not a power of two larger than m, -2 on a negative or duplicate key. */
int ngk_hash_build(const int64_t *keys, int64_t m, int64_t *table, int64_t slots);

/* out[i] = row of queries[i] in a hash_build table, or -1. */
void ngk_hash_find(const int64_t *table, int64_t slots, const int64_t *queries, int64_t n, int64_t *out);

/* Rows of the n-grams ending at every padded position: rows[(k-1) * P + t] = row of the
 * k-gram ending at t in order k (-1: absent, or it would reach before the sentence's <s>).
 * Uses m->uni_row, m->table, m->slots only. Returns 0, or -1 on an id outside 0..V-1. */
int64_t ngk_stream_rows(const ngk_backoff_model *m, const int32_t *padded, const int64_t *offsets,
                        int64_t n_sentences, int64_t *rows);

/* ---- Probing index: KenLM's "probing" layout, the scorer's own ----------------------------
 *
 * One table per order with everything a query needs in the slot it lands on, so a token
 * costs one cache miss per order and nothing else. An n-gram's *id* is its slot index in
 * its order's table (order 1: its word id); the key of an order-k n-gram is
 * id(its (k-1)-word prefix) * V + last word.
 *   order 1:      tables[0], V slots {int64 present (1 / -1), double logp10, double backoff10}
 *                 (absent words: present -1, logp10 NaN, backoff10 0)
 *   orders 2..N-1: {int64 key (-1 = empty), double logp10, double backoff10}  (stride 3)
 *   order N:      {int64 key, double logp10}                                  (stride 2)
 * Linear probing from the key's home slot, the high bits of (key * 2^64/phi) * n_slots (any
 * slot count works). */
#define NGK_PROBE_STRIDE(k, n) ((k) == 1 || (k) < (n) ? 3 : 2)

typedef struct {
    int order;                                 /* N */
    int64_t vocab;                             /* V */
    int64_t *table[NGK_SCORE_MAX_ORDER];       /* index k-1: order k, n_slots[k-1] * stride int64 words */
    int64_t n_slots[NGK_SCORE_MAX_ORDER];
} ngk_probe_index;

/* Fill the index from the model's per-order tables (sorted row keys parent_row * V + last,
 * order 1: the word ids; logp10 NaN = context-only entry). n_slots[k-1] must exceed M_k
 * (order 1: equal V). check_suffixes: set *closed to 1 when the suffix of every n-gram is in
 * the model, else 0 (when 0 the caller vouches for it and *closed is left alone).
 * Returns 0; -1 bad sizes or a word id outside 0..V-1; -2 duplicate keys or a row whose
 * parent row does not exist; -3 out of memory. */
int ngk_probe_build(ngk_probe_index *ix, const int64_t *const *keys, const int64_t *n_rows,
                    const double *const *logp10, const double *const *backoff10, int check_suffixes, int *closed);

/* The ARPA rule over the stream (see the top of this file) with the probing index:
 * out[t] = log10 P(token) for every padded position but each sentence's <s>, -inf when even
 * the unigram is absent. suffix_closed: stop at the first absent order. Sentences are
 * scored in `NGK_LANES` interleaved groups so the misses of one group's probes overlap the
 * work of the others (the next token's slots are prefetched one round ahead).
 * Returns the number of scores written, or -1 on an id outside 0..V-1. */
int64_t ngk_probe_score(const ngk_probe_index *ix, const int32_t *padded, const int64_t *offsets,
                        int64_t n_sentences, int suffix_closed, double *out);

/* ---- One query at a time: KenLM's BaseFullScore over the probing index ------------------
 *
 * Extension flags (KenLM's lm/blank.hh): ngk_probe_build stores a zero backoff as -0.0 when the
 * n-gram is not the context (prefix) of a longer n-gram, +0.0 when it is, so "this n-gram can
 * be extended to the right" is (backoff bits != -0.0). Sums are unchanged by the sign of a zero.
 *
 * A state is KenLM's right state: the `length` most recent words that can still be extended
 * (the longest matched n-gram ending at the last word whose backoff is not -0.0), their
 * backoffs and their ids in the index, most recent first. */
typedef struct {
    int length;
    int32_t words[NGK_SCORE_MAX_ORDER];  /* words[j]: the word j positions back (words[0]: the last) */
    double backoff[NGK_SCORE_MAX_ORDER]; /* log10 backoff of the (j+1)-gram words[j] .. words[0] */
    int64_t id[NGK_SCORE_MAX_ORDER];     /* its id in the probing index (order j + 1) */
} ngk_state;

/* log10 P(w | in) by the ARPA rule, KenLM's way: the n-grams words[j] .. words[0] w are looked up
 * for j = 0, 1, .. until one is absent; *ngram_length receives the order of the longest found
 * (1: the unigram), `out` the right state after w. A unigram stored as context-only (NaN, <s>)
 * scores `context_only`; a word without a unigram scores `absent` (w must be in 0..V-1). The sum is
 * KenLM's: float32 values added in float32 (so results agree with KenLM's to the bit but for rare
 * double-rounded ARPA values). */
double ngk_probe_word(const ngk_probe_index *ix, const ngk_state *in, int32_t w, double context_only, double absent,
                      ngk_state *out, int *ngram_length);

/* ngk_probe_word over the words ids[0 .. n_ids) in turn, from *st (which receives the state after
 * the last), prefetching each word's slots while the previous one is scored; `after`: the word
 * that will follow them (-1: none or unknown), prefetched too. Returns total plus the log10
 * probabilities added in float32 one by one (KenLM's sum); when logp is not NULL, logp[i] and
 * ngram_length[i] receive each word's result. */
float ngk_probe_words(const ngk_probe_index *ix, ngk_state *st, const int32_t *ids, int64_t n_ids, int32_t after,
                      double context_only, double absent, float total, double *logp, int *ngram_length);

/* ---- Vocabulary hash: word bytes -> entry (FNV-1a, linear probing) ------------------------
 * Entry i is blob[offsets[i] .. offsets[i+1]); table: `slots` int32 (a power of two > n),
 * -1 = empty. Build returns 0, or -1 on bad sizes, -2 on a duplicate word. */
int ngk_vocab_build(const char *blob, const int64_t *offsets, int64_t n, int32_t *table, int64_t slots);
/* The entry of the word s[0 .. len), or -1. slots must be a power of two (ngk_vocab_shape); whatever the table
 * and offsets hold, the search ends (it looks at most at every slot) and reads inside table[0 .. slots),
 * offsets[0 .. n] and blob[0 .. blob_len): a damaged stored vocabulary can misname a word, never fault. */
int64_t ngk_vocab_find(const char *blob, int64_t blob_len, const int64_t *offsets, int64_t n, const int32_t *table,
                       int64_t slots, const char *s, int64_t len);
/* The O(1) part of ngk_vocab_check: n fits an int32, slots is a power of two > n, offsets[0] is 0 and
 * offsets[n] is blob_len. What ngk_vocab_find needs to be safe. 0, or -1. */
int ngk_vocab_shape(const int64_t *offsets, int64_t n, int64_t blob_len, int64_t slots);
/* Whether a stored vocabulary (a model file's vocab.words, vocab.offsets, vocab.index) is as ngk_vocab_build
 * leaves one: ngk_vocab_shape, offsets rise (not strictly), every table entry is -1 or an entry 0..n-1, and at
 * least one is -1. Returns 0, or -1. It does not check that the table is ngk_vocab_build's (a damaged file may
 * then map a word to another id; its SHA-256 does, and ngk_vocab_verify). O(n + slots). */
int ngk_vocab_check(const int64_t *offsets, int64_t n, int64_t blob_len, const int32_t *table, int64_t slots);
/* After ngk_vocab_check: whether the table is a hash of n distinct words, each found at its own entry, with no
 * other entries; then every search gives what a dict of the words would. 0, or -1. O(n) hashing. */
int ngk_vocab_verify(const char *blob, const int64_t *offsets, int64_t n, const int32_t *table, int64_t slots);

/* The backoff rule of both n-gram scorers (score.c's probing index, compact.c's quantised tries), for one
 * token: cur[i], cur_p[i], cur_bo[i] are the entry (-1: absent), log10 probability and log10 backoff of the
 * token's (i+1)-gram, i = 0..lmax; ctx, ctx_bo the same of the previous token's n-grams (its contexts).
 * Returns the log10 probability: the longest present n-gram whose probability is not NaN plus the backoffs of
 * the longer contexts (-inf without one), and makes cur the next token's ctx (orders above lmax absent). */
static inline double ngk_backoff_step(int n, int lmax, const int64_t *cur, const double *cur_p, const double *cur_bo,
                                      int64_t *ctx, double *ctx_bo) {
    int match = -1;
    double lp = -INFINITY;
    for (int i = lmax; i >= 0; i--) {
        if (cur[i] >= 0 && !isnan(cur_p[i])) {
            match = i;
            lp = cur_p[i];
            break;
        }
    }
    if (match >= 0) {
        for (int j = match + 1; j <= lmax; j++)
            if (ctx[j - 1] >= 0) lp += ctx_bo[j - 1];
    }
    for (int j = 0; j < n; j++) {
        ctx[j] = j <= lmax ? cur[j] : -1;
        ctx_bo[j] = j <= lmax && cur[j] >= 0 ? cur_bo[j] : 0.0;
    }
    return lp;
}

#endif
