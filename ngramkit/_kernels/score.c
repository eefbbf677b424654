/* Backoff (ARPA) n-gram scoring: see score.h. One pass over the stream; per token, one
 * hash probe per order (KenLM's "probing" structure), context rows carried forward from
 * the previous token. */
#include "score.h"

#include <math.h>

static inline uint64_t slot_of(int64_t key, int64_t slots) {
    /* Fibonacci hashing, high bits folded into the low ones. */
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    return (h ^ (h >> 32)) & (uint64_t)(slots - 1);
}

int ngk_hash_build(const int64_t *keys, int64_t m, int64_t *table, int64_t slots) {
    if (slots <= m || (slots & (slots - 1)) != 0) return -1;
    for (int64_t i = 0; i < 2 * slots; i++) table[i] = -1;
    for (int64_t r = 0; r < m; r++) {
        int64_t key = keys[r];
        if (key < 0) return -2;
        uint64_t s = slot_of(key, slots);
        while (table[2 * s] != -1) {
            if (table[2 * s] == key) return -2;
            s = (s + 1) & (uint64_t)(slots - 1);
        }
        table[2 * s] = key;
        table[2 * s + 1] = r;
    }
    return 0;
}

/* Row of `key` in an order's hash table, or -1. */
static inline int64_t find_key(const int64_t *table, int64_t slots, int64_t key) {
    uint64_t s = slot_of(key, slots);
    for (;;) {
        int64_t k = table[2 * s];
        if (k == key) return table[2 * s + 1];
        if (k == -1) return -1;
        s = (s + 1) & (uint64_t)(slots - 1);
    }
}

int64_t ngk_backoff_score(const ngk_backoff_model *m, const int32_t *padded, const int64_t *offsets,
                          int64_t n_sentences, double *out) {
    const int n = m->order;
    const int64_t v = m->vocab;
    int64_t ctx[NGK_SCORE_MAX_ORDER]; /* ctx[j]: row of the (j+1)-gram ending at the previous token */
    int64_t cur[NGK_SCORE_MAX_ORDER];
    int64_t w_out = 0;
    for (int64_t s = 0; s < n_sentences; s++) {
        int64_t a = offsets[s], b = offsets[s + 1];
        if (a >= b) continue;
        int32_t first = padded[a];
        if (first < 0 || first >= v) return -1;
        for (int j = 0; j < n; j++) ctx[j] = -1;
        ctx[0] = m->uni_row[first];
        for (int64_t t = a + 1; t < b; t++) {
            int32_t w = padded[t];
            if (w < 0 || w >= v) return -1;
            int64_t pos = t - a; /* context words available: pos */
            int lmax = (int)(pos < n - 1 ? pos : n - 1); /* longest usable context */
            cur[0] = m->uni_row[w];
            for (int i = 1; i <= lmax; i++) {
                int64_t parent = ctx[i - 1];
                if (parent < 0 || (m->suffix_closed && cur[i - 1] < 0)) {
                    cur[i] = -1;
                    continue;
                }
                cur[i] = find_key(m->table[i], m->slots[i], parent * v + w);
            }
            int match = -1;
            double lp = -INFINITY;
            for (int i = lmax; i >= 0; i--) {
                if (cur[i] >= 0) {
                    double p = m->logp10[i][cur[i]];
                    if (!isnan(p)) {
                        match = i;
                        lp = p;
                        break;
                    }
                }
            }
            if (match >= 0) {
                /* Backoff weights of the contexts longer than the matched n-gram's context. */
                for (int j = match + 1; j <= lmax; j++)
                    if (ctx[j - 1] >= 0) lp += m->backoff10[j - 1][ctx[j - 1]];
            }
            out[w_out++] = lp;
            for (int j = 0; j < n; j++) ctx[j] = j <= lmax ? cur[j] : -1;
        }
    }
    return w_out;
}

int64_t ngk_stream_rows(const ngk_backoff_model *m, const int32_t *padded, const int64_t *offsets,
                        int64_t n_sentences, int64_t *rows) {
    const int n = m->order;
    const int64_t v = m->vocab;
    const int64_t p = offsets[n_sentences];
    for (int64_t s = 0; s < n_sentences; s++) {
        for (int64_t t = offsets[s]; t < offsets[s + 1]; t++) {
            int32_t w = padded[t];
            if (w < 0 || w >= v) return -1;
            int64_t pos = t - offsets[s];
            rows[t] = m->uni_row[w];
            for (int k = 1; k < n; k++) {
                int64_t parent = (pos >= k) ? rows[(int64_t)(k - 1) * p + t - 1] : -1;
                rows[(int64_t)k * p + t] = parent < 0 ? -1 : find_key(m->table[k], m->slots[k], parent * v + w);
            }
        }
    }
    return 0;
}

void ngk_hash_find(const int64_t *table, int64_t slots, const int64_t *queries, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = queries[i] < 0 ? -1 : find_key(table, slots, queries[i]);
}
