/* The quantised compact format: bit packing and the scorer (see compact.h). */
#include "compact.h"
#include "score.h" /* ngk_backoff_step */

#include <math.h>
#include <string.h>

/* The 8 bytes at p as a little-endian integer (one unaligned load). */
static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

static inline void store_le64(uint8_t *p, uint64_t x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    memcpy(p, &x, 8);
}

static inline uint64_t read_bits(const uint8_t *base, uint64_t bit, int width) {
    return (load_le64(base + (bit >> 3)) >> (bit & 7)) & ((UINT64_C(1) << width) - 1);
}

void ngk_pack(const uint64_t *values, int64_t n, int width, uint64_t start, uint64_t stride, uint8_t *out) {
    const uint64_t mask = (UINT64_C(1) << width) - 1;
    uint64_t bit = start;
    for (int64_t i = 0; i < n; i++, bit += stride) {
        uint8_t *p = out + (bit >> 3);
        store_le64(p, load_le64(p) | ((values[i] & mask) << (bit & 7)));
    }
}

void ngk_unpack(const uint8_t *bits, int64_t n, int width, uint64_t start, uint64_t stride, uint64_t *out) {
    uint64_t bit = start;
    for (int64_t i = 0; i < n; i++, bit += stride) out[i] = read_bits(bits, bit, width);
}

/* Record field readers of one order. */
static inline int64_t rec_word(const ngk_level *lv, int64_t i) {
    return (int64_t)read_bits(lv->bits, (uint64_t)i * (uint64_t)lv->rec, lv->wbits);
}

static inline uint64_t rec_field(const ngk_level *lv, int64_t i, int offset, int width) {
    return read_bits(lv->bits, (uint64_t)i * (uint64_t)lv->rec + (uint64_t)offset, width);
}

/* The children of the order-k entry e (k = 1..N-1) in order k+1: [*lo, *hi), clamped to that order's size. */
static inline void children(const ngk_compact *m, int k, int64_t e, int64_t *lo, int64_t *hi) {
    uint64_t a, b;
    int64_t size = m->level[k].n; /* order k+1 */
    if (k == 1) {
        a = read_bits(m->uni_ptr, (uint64_t)e * (uint64_t)m->uni_pbits, m->uni_pbits);
        b = read_bits(m->uni_ptr, (uint64_t)(e + 1) * (uint64_t)m->uni_pbits, m->uni_pbits);
    } else {
        const ngk_level *lv = &m->level[k - 1];
        int off = lv->wbits + lv->qbits + lv->bbits;
        a = rec_field(lv, e, off, lv->pbits);
        b = rec_field(lv, e + 1, off, lv->pbits);
    }
    if (b > (uint64_t)size) b = (uint64_t)size;
    if (a > b) a = b;
    *lo = (int64_t)a;
    *hi = (int64_t)b;
}

/* The record of word w among records [lo, hi) of an order (sorted by word), or -1. */
static inline int64_t find_word(const ngk_level *lv, int64_t lo, int64_t hi, int64_t w) {
    const int64_t end = hi;
    while (hi - lo > 24) { /* lower bound: the first word >= w is in [lo, hi]; a short range is scanned */
        int64_t mid = lo + ((hi - lo) >> 1);
        if (rec_word(lv, mid) < w)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (hi < end) hi++;
    for (; lo < hi; lo++) {
        int64_t x = rec_word(lv, lo);
        if (x >= w) return x == w ? lo : -1;
    }
    return -1;
}

int64_t ngk_compact_score(const ngk_compact *m, const int32_t *padded, const int64_t *offsets, int64_t n_sentences,
                          int suffix_closed, double *out) {
    const int n = m->order;
    const int64_t v = m->vocab;
    int64_t ctx[NGK_COMPACT_MAX_ORDER];   /* ctx[j]: entry of the (j+1)-gram ending at t-1 in order j+1, -1 absent */
    double ctx_bo[NGK_COMPACT_MAX_ORDER]; /* its log10 backoff */
    int64_t cur[NGK_COMPACT_MAX_ORDER];
    double cur_p[NGK_COMPACT_MAX_ORDER], cur_bo[NGK_COMPACT_MAX_ORDER];
    int64_t written = 0;
    for (int64_t s = 0; s < n_sentences; s++) {
        const int64_t a = offsets[s], b = offsets[s + 1];
        if (a >= b) continue;
        int32_t first = padded[a];
        if (first < 0 || first >= v) return -1;
        for (int j = 0; j < n; j++) {
            ctx[j] = -1;
            ctx_bo[j] = 0.0;
        }
        ctx[0] = first;
        ctx_bo[0] = (double)m->uni_backoff[first];
        for (int64_t t = a + 1; t < b; t++) {
            const int32_t w = padded[t];
            if (w < 0 || w >= v) return -1;
            const int64_t pos = t - a;
            const int lmax = (int)(pos < n - 1 ? pos : n - 1);
            cur[0] = w;
            cur_p[0] = (double)m->uni_prob[w];
            cur_bo[0] = (double)m->uni_backoff[w];
            for (int i = 1; i <= lmax; i++) {
                cur[i] = -1;
                if (ctx[i - 1] < 0 || (suffix_closed && cur[i - 1] < 0)) continue;
                int64_t lo, hi;
                children(m, i, ctx[i - 1], &lo, &hi);
                const ngk_level *lv = &m->level[i]; /* order i+1 */
                int64_t e = find_word(lv, lo, hi, w);
                if (e < 0) continue;
                cur[i] = e;
                cur_p[i] = (double)lv->prob[rec_field(lv, e, lv->wbits, lv->qbits)];
                cur_bo[i] = lv->backoff ? (double)lv->backoff[rec_field(lv, e, lv->wbits + lv->qbits, lv->bbits)] : 0.0;
            }
            /* one <s> per sentence up to and including this one is not scored */
            out[t - s - 1] = ngk_backoff_step(n, lmax, cur, cur_p, cur_bo, ctx, ctx_bo);
            written++;
            /* The next token searches the children of these n-grams: fetch the record its search reads first
             * (the middle of each range) while this token's bookkeeping and the next one's first orders run. */
            if (t + 1 < b) {
                for (int j = 0; j <= lmax && j < n - 1; j++) {
                    if (ctx[j] < 0) continue;
                    int64_t lo, hi;
                    children(m, j + 1, ctx[j], &lo, &hi);
                    const ngk_level *lv = &m->level[j + 1];
                    __builtin_prefetch(lv->bits + (((uint64_t)(lo + ((hi - lo) >> 1)) * (uint64_t)lv->rec) >> 3), 0, 1);
                }
            }
        }
    }
    return written;
}
