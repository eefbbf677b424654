/* The quantised compact n-gram format (ngramkit/compact.py): bit packing and scoring, plain C, no Python.h.
 *
 * A model of order N over V words is a forward trie:
 *   order 1: dense over the word ids: float32 log10 prob (NaN: no unigram, or context only) and backoff,
 *            and a bit-packed pointer per word (V+1 entries, the last a sentinel) to the first of its
 *            children in order 2;
 *   order k = 2..N: M_k fixed-width records, sorted by (parent entry, word) as ngramkit's tables are, each
 *            [word id | prob code | backoff code | pointer to the first child in order k+1] (backoff and
 *            pointer absent at k = N), plus one sentinel record whose pointer is M_{k+1}. The children of
 *            entry i are the records pointer(i) .. pointer(i+1)-1 of the next order.
 * A code indexes its order's table of centres (float32, 2^bits entries; NaN: context only).
 * Fields are little-endian bit strings: field f of record i starts at bit i * record_bits + offset_f.
 * Every packed array carries 8 bytes of padding after its last bit (one unaligned 64-bit load per field).
 *
 * The scorer gives out[t] = log10 P(token) for every padded position but each sentence's <s>, by the
 * ARPA rule, exactly as ngk_probe_score (score.h) does on the same (dequantised) values: the same
 * longest match, the backoffs added in the same order. */
#ifndef NGRAMKIT_COMPACT_H
#define NGRAMKIT_COMPACT_H

#include <stdint.h>

#define NGK_COMPACT_MAX_ORDER 16
#define NGK_COMPACT_MAX_FIELD 57 /* widest field one unaligned 64-bit load can hold at any bit offset */

typedef struct {
    const uint8_t *bits; /* packed records (n + 1 of them, then 8 bytes of padding) */
    int64_t n;           /* records (the sentinel not counted) */
    int rec;             /* bits per record */
    int wbits, qbits, bbits, pbits; /* field widths; offsets 0, wbits, wbits+qbits, wbits+qbits+bbits */
    const float *prob;   /* (2^qbits,) centres */
    const float *backoff; /* (2^bbits,) centres; NULL at the highest order */
} ngk_level;

typedef struct {
    int order;            /* N */
    int64_t vocab;        /* V */
    const float *uni_prob, *uni_backoff; /* (V,) */
    const uint8_t *uni_ptr;              /* V+1 packed pointers of uni_pbits bits */
    int uni_pbits;
    ngk_level level[NGK_COMPACT_MAX_ORDER]; /* index k-1 for order k = 2..N */
} ngk_compact;

/* Field `width` (1..57) of n records: record i's field starts at bit start + i * stride. pack ORs the
 * low `width` bits of values[i] into out (which the caller zeroed); unpack reads them into out. */
void ngk_pack(const uint64_t *values, int64_t n, int width, uint64_t start, uint64_t stride, uint8_t *out);
void ngk_unpack(const uint8_t *bits, int64_t n, int width, uint64_t start, uint64_t stride, uint64_t *out);

/* Score a padded stream (see score.h). suffix_closed: every n-gram's suffix is an n-gram of the model, so
 * the search stops at the first order where the token's n-gram is absent. Returns the number of tokens
 * written, or -1 on an id outside 0..V-1. Every pointer read is clamped to its next order's size: any bytes
 * are safe to score. */
int64_t ngk_compact_score(const ngk_compact *m, const int32_t *padded, const int64_t *offsets, int64_t n_sentences,
                          int suffix_closed, double *out);

#endif
