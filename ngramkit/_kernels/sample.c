/* Exact sampling from a backoff n-gram model (see sample.h and ngramkit/models/sampling.py for the maths). */
#include "sample.h"

#include <string.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t ngk_stream_key(uint64_t seed, uint64_t sentence) {
    return mix64(mix64(seed + GOLDEN) ^ (sentence * GOLDEN + 0x243F6A8885A308D3ULL));
}

double ngk_uniform(uint64_t key, uint64_t t) {
    return (double)(mix64(key + (t + 1) * GOLDEN) >> 11) * 0x1.0p-53;
}

/* First index i in [lo, hi) with cum[i] > u (hi - 1 when none: rounding at the top). */
static inline int64_t search_cum(const double *cum, int64_t lo, int64_t hi, double u) {
    int64_t a = lo, b = hi - 1;
    while (a < b) {
        int64_t mid = a + ((b - a) >> 1);
        if (cum[mid] > u) b = mid;
        else a = mid + 1;
    }
    return a;
}

/* Row of order k+1 extending row r of order k with word w, -1 when absent. */
static inline int64_t find_child(const NgkSampler *m, int k, int64_t r, int32_t w) {
    const int64_t *ch = m->child[k - 1];
    int64_t a = ch[r], b = ch[r + 1];
    const int32_t *last = m->last[k];
    while (a < b) {
        int64_t mid = a + ((b - a) >> 1);
        if (last[mid] < w) a = mid + 1;
        else b = mid;
    }
    return (a < ch[r + 1] && last[a] == w) ? a : -1;
}

/* One token given the context rows ctx[1..N-1] (ctx[j]: row in order j of the last j words, -1 absent).
 * Returns the word, or -1 / -2 (see ngk_sample). *t: the stream's draw counter. On return, found[p] for
 * p = *level_out .. top (p >= 1) holds the row of order p+1 extending ctx[p] with the word (-1: none): the
 * rejection checks looked them up, and the context update reuses them. */
static int32_t draw(const NgkSampler *m, const int64_t *ctx, uint64_t key, uint64_t *t, int64_t max_draws,
                    int64_t *found, int *level_out) {
    const int n = m->order;
    int top = 0;
    for (int j = n - 1; j >= 1; j--)
        if (ctx[j] >= 0) { top = j; break; }
    const double *cum1 = m->cum[0];
    const int64_t m1 = m->size[0];
    const double s0 = m1 ? cum1[m1 - 1] : 0.0;
    if (!(s0 > 0)) return -2;
    int level = top;
    for (int64_t tries = 0; tries < max_draws; tries++) {
        double u = ngk_uniform(key, (*t)++);
        int32_t w;
        if (level >= 1) {
            int64_t r = ctx[level];
            if (u < m->mass[level - 1][r]) {
                const int64_t *ch = m->child[level - 1];
                int64_t i = search_cum(m->cum[level], ch[r], ch[r + 1], u);
                w = m->last[level][i];
                found[level] = i;
            } else {
                do level--; while (level >= 1 && ctx[level] < 0);  /* back off: the next present context */
                continue;
            }
        } else {
            w = m->last[0][search_cum(cum1, 0, m1, u * s0)];
        }
        /* w is a draw from p(.|context of `level`): reject it where a longer context names it as a child. */
        int rejected = 0;
        for (int p = level + 1; p <= top; p++) {
            if (ctx[p] < 0) {
                found[p] = -1;
                continue;
            }
            int64_t c = find_child(m, p, ctx[p], w);
            found[p] = c;
            if (c >= 0 && m->real[p][c]) {
                level = p - 1;
                while (level >= 1 && ctx[level] < 0) level--;
                rejected = 1;
                break;
            }
        }
        if (rejected) continue;
        if (w == m->bos || w == m->pad) {  /* never generated: the whole draw again */
            level = top;
            continue;
        }
        *level_out = level;
        for (int p = top + 1; p < n; p++) found[p] = -1;
        return w;
    }
    return -1;
}

int64_t ngk_sample(const NgkSampler *m, uint64_t seed, int64_t first, int64_t count, int32_t *tokens, int64_t cap,
                   int64_t *lengths, int64_t max_draws) {
    const int n = m->order;
    int64_t used = 0;
    int64_t ctx[NGK_SAMPLE_MAX_ORDER], found[NGK_SAMPLE_MAX_ORDER];
    for (int64_t s = 0; s < count; s++) {
        uint64_t key = ngk_stream_key(seed, (uint64_t)(first + s)), t = 0;
        for (int j = 0; j < n; j++) ctx[j] = -1;
        if (n > 1) ctx[1] = m->uni_row[m->bos];
        int64_t len = 0;
        for (;;) {
            if (used + len >= cap) return s;  /* this sentence does not fit */
            int level = 0;
            int32_t w = draw(m, ctx, key, &t, max_draws, found, &level);
            if (w < 0) return w;
            tokens[used + len++] = w;
            if (w == m->eos) break;
            /* the new context: row of (suffix of length j-1) + w in order j; found[] has those of p >= level */
            for (int j = n - 1; j >= 2; j--) {
                int p = j - 1;
                if (p >= level) ctx[j] = found[p];
                else ctx[j] = ctx[p] >= 0 ? find_child(m, p, ctx[p], w) : -1;
            }
            if (n > 1) ctx[1] = m->uni_row[w];
            for (int j = 1; j < n; j++) {  /* the next draw reads these first: start the misses together */
                if (ctx[j] >= 0) {
                    __builtin_prefetch(&m->mass[j - 1][ctx[j]]);
                    __builtin_prefetch(&m->child[j - 1][ctx[j]]);
                }
            }
        }
        lengths[s] = len;
        used += len;
    }
    return count;
}

int64_t ngk_render(const int32_t *tokens, int64_t n, const char *words, const int64_t *offsets, int32_t eos,
                   char *out) {
    char *o = out;
    int line_start = 1;
    for (int64_t i = 0; i < n; i++) {
        int32_t w = tokens[i];
        if (w == eos) {
            *o++ = '\n';
            line_start = 1;
            continue;
        }
        if (!line_start) *o++ = ' ';
        int64_t a = offsets[w], len = offsets[w + 1] - a;
        memcpy(o, words + a, (size_t)len);
        o += len;
        line_start = 0;
    }
    return o - out;
}
