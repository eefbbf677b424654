/* Backoff (ARPA) n-gram scoring: see score.h. One pass over the stream; per token,
 * one binary search per order inside the children range of the context row (the
 * trie walk KenLM's "trie" data structure does), context rows carried forward. */
#include "score.h"

#include <math.h>

/* Row of key `key` in keys[lo:hi] (sorted), or -1. */
static inline int64_t find_in(const int64_t *keys, int64_t lo, int64_t hi, int64_t key) {
    while (lo < hi) {
        int64_t mid = lo + ((hi - lo) >> 1);
        int64_t k = keys[mid];
        if (k < key) lo = mid + 1;
        else if (k > key) hi = mid;
        else return mid;
    }
    return -1;
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
                if (parent < 0) {
                    cur[i] = -1;
                    continue;
                }
                const int64_t *lo = m->child_lo[i - 1];
                cur[i] = find_in(m->keys[i], lo[parent], lo[parent + 1], parent * v + w);
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
