/* Backoff (ARPA) n-gram scoring: see score.h. The scorer (ngk_probe_score) makes one pass
 * over the stream; per token, one hash probe per order in tables whose slots hold the
 * probability and backoff as well as the key (KenLM's "probing" structure), context ids
 * carried forward from the previous token. The row hash (ngk_hash_*) maps keys to rows for
 * the count models and for fitting. */
#include "score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- Probing index --------------------------------------------------------------------- */

#ifndef NGK_LANES
#define NGK_LANES 8 /* sentence groups scored in turn; 4..16 measure alike on PTB, 32 is slower */
#endif
#define NGK_BUILD_AHEAD 16 /* keys hashed and prefetched this many rows ahead while building */

/* Slot of a key: Fibonacci hashing (the high bits of key * 2^64/phi spread the keys,
 * parent_id * V + w, evenly), then the high 64 bits of h * n_slots ("fastrange": a uniform
 * slot for any table size, no modulo). splitmix64's finaliser measured no better on PTB. */
static inline int64_t probe_home(int64_t key, int64_t n_slots) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
#ifdef __SIZEOF_INT128__
    return (int64_t)(((unsigned __int128)h * (uint64_t)n_slots) >> 64);
#else
    return (int64_t)((h >> 1) % (uint64_t)n_slots);
#endif
}

static inline double as_double(int64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static inline int64_t as_bits(double d) {
    int64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

/* KenLM's extension flag (score.h): a zero backoff starts as -0.0 ("not extended"); marking an
 * n-gram as the context of a longer one turns it into +0.0. */
static inline int64_t backoff_bits(double b) { return as_bits(b == 0.0 ? -0.0 : b); }

static inline void mark_extended(int64_t *bo_word) {
    if (*bo_word == as_bits(-0.0)) *bo_word = as_bits(0.0);
}

/* Slot of `key` in a probing table of `n` slots of `stride` words, or -1. At most n slots are
 * looked at: a table read from a file may be corrupt (no empty slot left), and a lookup must
 * still end; every slot it returns is in 0..n-1 whatever the table holds. */
static inline int64_t probe_find(const int64_t *tab, int64_t n, int stride, int64_t key, int64_t s) {
    for (int64_t left = n; left > 0; left--) {
        int64_t k = tab[s * stride];
        if (k == key) return s;
        if (k == -1) return -1;
        if (++s == n) s = 0;
    }
    return -1;
}

int ngk_probe_build(ngk_probe_index *ix, const int64_t *const *keys, const int64_t *n_rows,
                    const double *const *logp10, const double *const *backoff10, int check_suffixes, int *closed) {
    const int n = ix->order;
    const int64_t v = ix->vocab;
    if (n < 1 || n > NGK_SCORE_MAX_ORDER || v < 1 || ix->n_slots[0] != v) return -1;
    int64_t *uni = ix->table[0];
    const int64_t nan_bits = as_bits(NAN), zero_bits = as_bits(0.0);
    for (int64_t w = 0; w < v; w++) {
        uni[3 * w] = -1;
        uni[3 * w + 1] = nan_bits;
        uni[3 * w + 2] = zero_bits;
    }
    for (int64_t r = 0; r < n_rows[0]; r++) {
        int64_t w = keys[0][r];
        if (w < 0 || w >= v) return -1;
        if (uni[3 * w] == 1) return -2;
        uni[3 * w] = 1;
        uni[3 * w + 1] = as_bits(logp10[0][r]);
        uni[3 * w + 2] = backoff_bits(backoff10[0][r]);
    }
    int rc = 0, closure = check_suffixes;
    int64_t *prev_id = NULL, *prev_sfx = NULL, *id = NULL, *sfx = NULL, *qkey = NULL;
    for (int k = 2; k <= n; k++) {
        const int64_t m = n_rows[k - 1], m_prev = n_rows[k - 2], slots = ix->n_slots[k - 1];
        const int64_t prev_slots = k == 2 ? v : ix->n_slots[k - 2];
        const int stride = NGK_PROBE_STRIDE(k, n);
        int64_t *tab = ix->table[k - 1];
        if (slots <= m || prev_slots > INT64_MAX / v) {
            rc = -1;
            goto done;
        }
        id = malloc((size_t)(m ? m : 1) * sizeof *id);
        qkey = malloc((size_t)(m ? m : 1) * sizeof *qkey);
        sfx = closure ? malloc((size_t)(m ? m : 1) * sizeof *sfx) : NULL;
        if (!id || !qkey || (closure && !sfx)) {
            rc = -3;
            goto done;
        }
        /* Empty slots: key -1, the other words 0 (a stored index has no uninitialised bytes: equal models give
         * equal files). */
        memset(tab, 0, (size_t)(slots * stride) * sizeof *tab);
        for (int64_t s = 0; s < slots; s++) tab[s * stride] = -1;
        /* Our keys from the row keys: the parent's row becomes the parent's id. */
        for (int64_t r = 0; r < m; r++) {
            int64_t key = keys[k - 1][r];
            if (key < 0) {
                rc = -2;
                goto done;
            }
            int64_t p = key / v, w = key % v;
            if (p >= m_prev) {
                rc = -2;
                goto done;
            }
            int64_t pid = k == 2 ? keys[0][p] : prev_id[p];
            qkey[r] = pid * v + w;
        }
        for (int64_t r = 0; r < m; r++) {
            if (r + NGK_BUILD_AHEAD < m)
                __builtin_prefetch(tab + probe_home(qkey[r + NGK_BUILD_AHEAD], slots) * stride, 1, 1);
            int64_t key = qkey[r], s = probe_home(key, slots);
            for (;;) {
                int64_t at = tab[s * stride];
                if (at == -1) break;
                if (at == key) {
                    rc = -2;
                    goto done;
                }
                if (++s == slots) s = 0;
            }
            tab[s * stride] = key;
            tab[s * stride + 1] = as_bits(logp10[k - 1][r]);
            if (stride == 3) tab[s * stride + 2] = backoff_bits(backoff10[k - 1][r]);
            id[r] = s;
        }
        /* Every parent of an order-k row is extended (after all of order k-1 was written). */
        for (int64_t r = 0; r < m; r++) {
            int64_t p = keys[k - 1][r] / v;
            if (k == 2)
                mark_extended(uni + 3 * keys[0][p] + 2);
            else
                mark_extended(ix->table[k - 2] + prev_id[p] * 3 + 2);
        }
        if (closure && k == 2) {
            /* sfx[r]: id in order k-1 of the row's suffix (all words but the first), -1 if absent. */
            for (int64_t r = 0; r < m && closure; r++) {
                int64_t w = keys[1][r] % v;
                sfx[r] = uni[3 * w] == 1 ? w : -1;
                if (sfx[r] < 0) closure = 0;
            }
        } else if (closure) {
            /* The suffix of row (p, w) is the suffix of p extended by w: its key in order k-1. */
            const int64_t *tab_prev = ix->table[k - 2], slots_prev = ix->n_slots[k - 2];
            const int stride_prev = NGK_PROBE_STRIDE(k - 1, n);
            for (int64_t r = 0; r < m && closure; r++) {
                int64_t ps = prev_sfx[keys[k - 1][r] / v];
                if (ps < 0) closure = 0;
                qkey[r] = ps * v + keys[k - 1][r] % v;
            }
            for (int64_t r = 0; r < m && closure; r++) {
                if (r + NGK_BUILD_AHEAD < m)
                    __builtin_prefetch(tab_prev + probe_home(qkey[r + NGK_BUILD_AHEAD], slots_prev) * stride_prev, 0, 1);
                sfx[r] = probe_find(tab_prev, slots_prev, stride_prev, qkey[r], probe_home(qkey[r], slots_prev));
                if (sfx[r] < 0) closure = 0;
            }
        }
        free(prev_id);
        free(prev_sfx);
        free(qkey);
        prev_id = id;
        prev_sfx = sfx;
        id = sfx = qkey = NULL;
    }
    if (check_suffixes) *closed = closure;
done:
    free(prev_id);
    free(prev_sfx);
    free(id);
    free(sfx);
    free(qkey);
    return rc;
}

/* One group of sentences being scored: the token at t is prepared (keys hashed, slots
 * prefetched) one round before it is resolved. */
typedef struct {
    int64_t t, end;    /* next padded position to score; end of the current sentence */
    int64_t s, s_end;  /* current sentence; end of this group's sentences */
    int64_t a;         /* padded position of the current sentence's <s> */
    int lmax;          /* longest usable context of the token at t */
    int64_t ctx[NGK_SCORE_MAX_ORDER];   /* ctx[j]: id of the (j+1)-gram ending at t-1, -1 absent */
    double ctx_bo[NGK_SCORE_MAX_ORDER]; /* its log10 backoff */
    int64_t key[NGK_SCORE_MAX_ORDER];   /* key[i]: the order-(i+1) key of the token at t */
    int64_t home[NGK_SCORE_MAX_ORDER];  /* its home slot */
} ngk_lane;

/* Move to the next sentence with a token to predict; 0 when the group is done, -1 on a bad id. */
static int lane_next_sentence(ngk_lane *ln, const ngk_probe_index *ix, const int32_t *padded, const int64_t *offsets) {
    const int64_t *uni = ix->table[0];
    for (; ln->s < ln->s_end; ln->s++) {
        int64_t a = offsets[ln->s], b = offsets[ln->s + 1];
        if (a >= b) continue;
        int32_t first = padded[a];
        if (first < 0 || first >= ix->vocab) return -1;
        if (b - a < 2) continue;
        for (int j = 0; j < ix->order; j++) {
            ln->ctx[j] = -1;
            ln->ctx_bo[j] = 0.0;
        }
        if (uni[3 * (int64_t)first] == 1) {
            ln->ctx[0] = first;
            ln->ctx_bo[0] = as_double(uni[3 * (int64_t)first + 2]);
        }
        ln->a = a;
        ln->t = a + 1;
        ln->end = b;
        return 1;
    }
    return 0;
}

/* Hash the keys of the token at ln->t and prefetch their slots. 0, or -1 on a bad id. */
static inline int lane_prepare(ngk_lane *ln, const ngk_probe_index *ix, const int32_t *padded) {
    const int n = ix->order;
    const int64_t v = ix->vocab;
    int32_t w = padded[ln->t];
    if (w < 0 || w >= v) return -1;
    int64_t pos = ln->t - ln->a;
    int lmax = (int)(pos < n - 1 ? pos : n - 1);
    ln->lmax = lmax;
    for (int i = 1; i <= lmax; i++) {
        if (ln->ctx[i - 1] < 0) continue;
        int64_t key = ln->ctx[i - 1] * v + w;
        int64_t home = probe_home(key, ix->n_slots[i]);
        const int stride = NGK_PROBE_STRIDE(i + 1, n);
        const int64_t *slot = ix->table[i] + home * stride;
        ln->key[i] = key;
        ln->home[i] = home;
        /* The slot and the next line: a slot may straddle two lines, and a key that is absent
         * (most high-order probes on unseen text) is settled only at the next empty slot. */
        __builtin_prefetch(slot, 0, 3);
        __builtin_prefetch((const char *)slot + 64, 0, 3);
    }
    return 0;
}

/* Score the token at ln->t (its slots are in cache by now) and carry its ids forward. */
static inline void lane_resolve(ngk_lane *ln, const ngk_probe_index *ix, const int32_t *padded, int suffix_closed,
                                double *out) {
    const int n = ix->order;
    const int lmax = ln->lmax;
    const int64_t w = padded[ln->t];
    int64_t cur[NGK_SCORE_MAX_ORDER];
    double cur_p[NGK_SCORE_MAX_ORDER], cur_bo[NGK_SCORE_MAX_ORDER];
    const int64_t *uni = ix->table[0] + 3 * w;
    cur[0] = uni[0] == 1 ? w : -1;
    cur_p[0] = as_double(uni[1]);
    cur_bo[0] = as_double(uni[2]);
    for (int i = 1; i <= lmax; i++) {
        cur[i] = -1;
        if (ln->ctx[i - 1] < 0 || (suffix_closed && cur[i - 1] < 0)) continue;
        const int stride = NGK_PROBE_STRIDE(i + 1, n);
        const int64_t *tab = ix->table[i];
        int64_t s = probe_find(tab, ix->n_slots[i], stride, ln->key[i], ln->home[i]);
        if (s >= 0) {
            cur[i] = s;
            cur_p[i] = as_double(tab[s * stride + 1]);
            cur_bo[i] = stride == 3 ? as_double(tab[s * stride + 2]) : 0.0;
        }
    }
    /* one <s> per sentence up to and including this one is not scored */
    out[ln->t - ln->s - 1] = ngk_backoff_step(n, lmax, cur, cur_p, cur_bo, ln->ctx, ln->ctx_bo);
}

int64_t ngk_probe_score(const ngk_probe_index *ix, const int32_t *padded, const int64_t *offsets,
                        int64_t n_sentences, int suffix_closed, double *out) {
    ngk_lane lanes[NGK_LANES];
    ngk_lane *live[NGK_LANES];
    int n_live = 0;
    const int64_t total = offsets[n_sentences];
    int64_t s = 0;
    for (int g = 0; g < NGK_LANES; g++) {
        /* Group g: the sentences starting in the g-th equal share of the padded stream. */
        int64_t lo = s;
        int64_t bound = (int64_t)((double)total * (g + 1) / NGK_LANES);
        while (s < n_sentences && offsets[s] < bound) s++;
        if (g == NGK_LANES - 1) s = n_sentences;
        ngk_lane *ln = &lanes[g];
        ln->s = lo;
        ln->s_end = s;
        int rc = lane_next_sentence(ln, ix, padded, offsets);
        if (rc < 0) return -1;
        if (rc == 0) continue;
        if (lane_prepare(ln, ix, padded) < 0) return -1;
        live[n_live++] = ln;
    }
    while (n_live > 0) {
        for (int g = 0; g < n_live; g++) {
            ngk_lane *ln = live[g];
            lane_resolve(ln, ix, padded, suffix_closed, out);
            if (++ln->t == ln->end) {
                ln->s++;
                int rc = lane_next_sentence(ln, ix, padded, offsets);
                if (rc < 0) return -1;
                if (rc == 0) {
                    live[g--] = live[--n_live];
                    continue;
                }
            }
            if (lane_prepare(ln, ix, padded) < 0) return -1;
        }
    }
    return total - n_sentences;
}

/* ---- One query at a time (score.h) ------------------------------------------------------ */

static inline int extended(double backoff) { return as_bits(backoff) != as_bits(-0.0); }

static inline void prefetch_slot(const ngk_probe_index *ix, int k, int64_t key) {
    const int n = ix->order;
    __builtin_prefetch(ix->table[k - 1] + probe_home(key, ix->n_slots[k - 1]) * NGK_PROBE_STRIDE(k, n), 0, 1);
}

/* ngk_probe_word; when next >= 0 (the word that will follow w), the slots its query will probe
 * are prefetched as soon as their keys are known: the bigram (w, next) first, then for every
 * n-gram found for w the one that extends it by next (a slot id of the state after w). */
static inline double probe_word(const ngk_probe_index *ix, const ngk_state *in, int32_t w, int32_t next,
                                double context_only, double absent, ngk_state *out, int *ngram_length) {
    const int n = ix->order;
    const int64_t v = ix->vocab;
    const int64_t *uni = ix->table[0] + 3 * (int64_t)w;
    if (next >= 0 && n > 1) prefetch_slot(ix, 2, (int64_t)w * v + next);
    float p; /* KenLM's arithmetic: float32 values, summed in float32 */
    int len = 1;
    out->words[0] = w;
    out->id[0] = w;
    if (uni[0] == 1) {
        p = (float)as_double(uni[1]);
        if (isnan(p)) p = (float)context_only;
        out->backoff[0] = as_double(uni[2]);
        out->length = extended(out->backoff[0]) ? 1 : 0;
    } else {
        p = (float)absent;
        out->backoff[0] = -0.0;
        out->length = 0;
    }
    int ctx = in->length < n - 1 ? in->length : n - 1;
    for (int j = 0; j < ctx; j++) {
        const int k = j + 2; /* the order of words[j] .. words[0] w */
        const int stride = NGK_PROBE_STRIDE(k, n);
        const int64_t *tab = ix->table[k - 1];
        /* unsigned: a state made by another (larger) model must not overflow; the key then misses */
        const int64_t key = (int64_t)((uint64_t)in->id[j] * (uint64_t)v + (uint64_t)w);
        const int64_t s = probe_find(tab, ix->n_slots[k - 1], stride, key, probe_home(key, ix->n_slots[k - 1]));
        if (s < 0) break;
        const double q = as_double(tab[s * stride + 1]);
        /* A context-only entry scores what the ARPA rule gives it (KenLM's "blank"). */
        p = isnan(q) ? p + (float)in->backoff[j] : (float)q;
        len = k;
        if (k < n) {
            const double bo = as_double(tab[s * stride + 2]);
            if (next >= 0) prefetch_slot(ix, k + 1, s * v + next);
            out->words[j + 1] = in->words[j];
            out->backoff[j + 1] = bo;
            out->id[j + 1] = s;
            if (extended(bo)) out->length = k;
        }
    }
    /* Backoffs of the contexts longer than the matched n-gram's (KenLM's FullScore). */
    for (int j = len - 1; j < in->length; j++) p += (float)in->backoff[j];
    *ngram_length = len;
    return p;
}

double ngk_probe_word(const ngk_probe_index *ix, const ngk_state *in, int32_t w, double context_only, double absent,
                      ngk_state *out, int *ngram_length) {
    return probe_word(ix, in, w, -1, context_only, absent, out, ngram_length);
}

float ngk_probe_words(const ngk_probe_index *ix, ngk_state *st, const int32_t *ids, int64_t n_ids, int32_t after,
                      double context_only, double absent, float total, double *logp, int *ngram_length) {
    ngk_state tmp[2];
    int cur = 0, len;
    tmp[0] = *st;
    for (int64_t i = 0; i < n_ids; i++) {
        const int32_t next = i + 1 < n_ids ? ids[i + 1] : after;
        const double p = probe_word(ix, &tmp[cur], ids[i], next, context_only, absent, &tmp[1 - cur], &len);
        total += (float)p;
        cur = 1 - cur;
        if (logp) {
            logp[i] = p;
            ngram_length[i] = len;
        }
    }
    *st = tmp[cur];
    return total;
}

static inline uint64_t fnv1a(const char *s, int64_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

int ngk_vocab_build(const char *blob, const int64_t *offsets, int64_t n, int32_t *table, int64_t slots) {
    if (slots <= n || (slots & (slots - 1)) != 0 || n > INT32_MAX) return -1;
    for (int64_t i = 0; i < slots; i++) table[i] = -1;
    for (int64_t e = 0; e < n; e++) {
        const char *s = blob + offsets[e];
        int64_t len = offsets[e + 1] - offsets[e];
        if (ngk_vocab_find(blob, offsets[n], offsets, n, table, slots, s, len) >= 0) return -2;
        uint64_t h = fnv1a(s, len) & (uint64_t)(slots - 1);
        while (table[h] != -1) h = (h + 1) & (uint64_t)(slots - 1);
        table[h] = (int32_t)e;
    }
    return 0;
}

int64_t ngk_vocab_find(const char *blob, int64_t blob_len, const int64_t *offsets, int64_t n, const int32_t *table,
                       int64_t slots, const char *s, int64_t len) {
    const uint64_t mask = (uint64_t)(slots - 1);
    uint64_t h = fnv1a(s, len) & mask;
    for (int64_t left = slots; left > 0; left--) { /* at most every slot: a damaged table may have no empty one */
        int32_t e = table[h];
        if (e < 0) return -1;
        if (e < n) { /* a damaged entry or offset is skipped, never followed outside the arrays */
            int64_t a = offsets[e], b = offsets[e + 1];
            if (b - a == len && a >= 0 && b <= blob_len && memcmp(blob + a, s, (size_t)len) == 0) return e;
        }
        h = (h + 1) & mask;
    }
    return -1;
}

int ngk_vocab_shape(const int64_t *offsets, int64_t n, int64_t blob_len, int64_t slots) {
    if (n < 0 || n > INT32_MAX || slots <= n || (slots & (slots - 1)) != 0 || offsets[0] != 0 || offsets[n] != blob_len)
        return -1;
    return 0;
}

int ngk_vocab_check(const int64_t *offsets, int64_t n, int64_t blob_len, const int32_t *table, int64_t slots) {
    if (ngk_vocab_shape(offsets, n, blob_len, slots) != 0) return -1;
    for (int64_t i = 0; i < n; i++)
        if (offsets[i + 1] < offsets[i]) return -1;
    int64_t empty = 0;
    for (int64_t i = 0; i < slots; i++) {
        if (table[i] < -1 || table[i] >= n) return -1;
        empty += table[i] == -1;
    }
    return empty > 0 ? 0 : -1;
}

int ngk_vocab_verify(const char *blob, const int64_t *offsets, int64_t n, const int32_t *table, int64_t slots) {
    int64_t taken = 0;
    for (int64_t i = 0; i < slots; i++) taken += table[i] >= 0;
    if (taken != n) return -1;
    for (int64_t e = 0; e < n; e++)
        if (ngk_vocab_find(blob, offsets[n], offsets, n, table, slots, blob + offsets[e], offsets[e + 1] - offsets[e]) != e)
            return -1;
    return 0;
}
