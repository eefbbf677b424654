/* ARPA reading (fast path) and line formatting; see arpa.h for the contract. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arpa.h"

/* The source line of the last "not for the fast path" (a diagnostic for tests and debugging). */
int ngk_arpa_bail_line = 0;
#define BAIL(rv) do { ngk_arpa_bail_line = __LINE__; return (rv); } while (0)
#define BAIL_DONE do { ngk_arpa_bail_line = __LINE__; goto done; } while (0)

/* ------------------------------------------------------------------------ */
/* 1. precheck: strict UTF-8, no NUL/CR/other separators                     */

/* 1 for the ASCII bytes the fast path refuses: NUL, CR, VT, FF, FS..US */
static int bad_ascii(uint8_t c) {
    return c == 0 || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1f);
}

int ngk_arpa_precheck(const uint8_t *s, size_t n) {
    const uint64_t hi = 0x8080808080808080ULL;
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) { /* 8 ASCII bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & hi)) {
                /* exact per-byte tests (no carries between bytes: every byte is < 0x80 here) */
                const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fULL;
                const uint64_t lt20 = ~((w + 0x6060606060606060ULL) | w) & hi; /* bytes < 0x20 */
                const uint64_t t = w ^ 0x0909090909090909ULL, l = w ^ 0x0a0a0a0a0a0a0a0aULL;
                const uint64_t tab = ~(((t & lo7) + lo7) | t) & hi, lf = ~(((l & lo7) + lo7) | l) & hi;
                if (lt20 & ~tab & ~lf) /* another control byte: NUL, CR, ... refused; the others are words' */
                    for (int j = 0; j < 8; j++)
                        if (bad_ascii(s[i + j])) return 1;
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (bad_ascii(c)) return 1;
            i++;
            continue;
        }
        if (c < 0xc2) return 1;
        if (c < 0xe0) {
            if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80) return 1;
            if (c == 0xc2 && (s[i + 1] == 0x85 || s[i + 1] == 0xa0)) return 1; /* U+0085, U+00A0 */
            i += 2;
            continue;
        }
        if (c < 0xf0) {
            if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80) return 1;
            if (c == 0xe0 && s[i + 1] < 0xa0) return 1; /* overlong */
            if (c == 0xed && s[i + 1] >= 0xa0) return 1; /* surrogates */
            uint32_t cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[i + 1] & 0x3f) << 6) | (s[i + 2] & 0x3f);
            if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
                cp == 0x205f || cp == 0x3000)
                return 1;
            i += 3;
            continue;
        }
        if (c < 0xf5) {
            if (i + 3 >= n || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 || (s[i + 3] & 0xc0) != 0x80)
                return 1;
            if (c == 0xf0 && s[i + 1] < 0x90) return 1; /* overlong */
            if (c == 0xf4 && s[i + 1] >= 0x90) return 1; /* > U+10FFFF */
            i += 4;
            continue;
        }
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* lines                                                                     */

typedef struct {
    const uint8_t *s;
    size_t n, pos;
} cursor;

/* The current line [*b, *e) without its LF; 0 at the end of the text. */
static int line_at(const cursor *c, size_t *b, size_t *e) {
    if (c->pos >= c->n) return 0;
    const uint8_t *nl = memchr(c->s + c->pos, '\n', c->n - c->pos);
    *b = c->pos;
    *e = nl ? (size_t)(nl - c->s) : c->n;
    return 1;
}

static void advance(cursor *c) {
    const uint8_t *nl = memchr(c->s + c->pos, '\n', c->n - c->pos);
    c->pos = nl ? (size_t)(nl - c->s) + 1 : c->n;
}

static inline int is_sp(uint8_t ch) { return ch == ' ' || ch == '\t'; }

/* Strip spaces/tabs from both ends of [*b, *e). */
static void strip(const uint8_t *s, size_t *b, size_t *e) {
    while (*b < *e && is_sp(s[*b])) (*b)++;
    while (*e > *b && is_sp(s[*e - 1])) (*e)--;
}

static void skip_blank(cursor *c) {
    size_t b, e;
    while (line_at(c, &b, &e)) {
        strip(c->s, &b, &e);
        if (b != e) return;
        advance(c);
    }
}

static int equals(const uint8_t *s, size_t b, size_t e, const char *lit) {
    size_t l = strlen(lit);
    return e - b == l && memcmp(s + b, lit, l) == 0;
}

/* ASCII digits [*b, ...) as a number (at most 15 digits, so no overflow); advances *b. -1: none or too many. */
static int64_t digits(const uint8_t *s, size_t *b, size_t e) {
    size_t i = *b;
    int64_t v = 0;
    while (i < e && s[i] >= '0' && s[i] <= '9') {
        if (i - *b >= 15) return -1;
        v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == *b) return -1;
    *b = i;
    return v;
}

int ngk_arpa_header(const uint8_t *s, size_t n, ngk_arpa_head *h) {
    cursor c = {s, n, 0};
    size_t b, e;
    skip_blank(&c);
    if (!line_at(&c, &b, &e)) return 1;
    strip(s, &b, &e);
    if (!equals(s, b, e, "\\data\\")) return 1;
    advance(&c);
    h->order = 0;
    while (line_at(&c, &b, &e)) {
        strip(s, &b, &e);
        if (b == e) break;
        /* ngram\s+(\d+)\s*=\s*(\d+) */
        if (e - b < 6 || memcmp(s + b, "ngram", 5) != 0 || !is_sp(s[b + 5])) return 1;
        b += 5;
        while (b < e && is_sp(s[b])) b++;
        int64_t k = digits(s, &b, e);
        while (b < e && is_sp(s[b])) b++;
        if (k < 0 || b >= e || s[b] != '=') return 1;
        b++;
        while (b < e && is_sp(s[b])) b++;
        int64_t m = digits(s, &b, e);
        if (m < 0 || b != e) return 1;
        if (k != h->order + 1 || h->order >= NGK_ARPA_MAX_ORDER) return 1;
        /* a line takes at least 4 bytes ("p w\n" minus one): more lines than that cannot be there */
        if ((uint64_t)m > n / 4 + 1) return 1;
        h->count[h->order++] = m;
        advance(&c);
    }
    if (h->order == 0) return 1;
    h->pos = c.pos;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* numbers: [-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?, the value of Python's float() */

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* 0 and *out set, or 1 (not an ARPA number, or not finite). */
static int number(const uint8_t *s, size_t b, size_t e, double *out) {
    size_t i = b;
    int neg = 0;
    if (i < e && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    uint64_t mant = 0;
    int sig = 0, int_digits = 0, frac_digits = 0, dropped = 0; /* dropped: fraction digits past the mantissa */
    int nonzero = 0;
    while (i < e && s[i] >= '0' && s[i] <= '9') {
        if (s[i] != '0' || nonzero) {
            nonzero = 1;
            if (sig < 19) mant = mant * 10 + (s[i] - '0');
            sig++;
        }
        int_digits++;
        i++;
    }
    if (i < e && s[i] == '.') {
        i++;
        while (i < e && s[i] >= '0' && s[i] <= '9') {
            if (s[i] != '0' || nonzero) {
                nonzero = 1;
                if (sig < 19) mant = mant * 10 + (s[i] - '0');
                else dropped++;
                sig++;
            }
            frac_digits++;
            i++;
        }
    }
    if (int_digits + frac_digits == 0) return 1;
    long exp = 0;
    if (i < e && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < e && (s[i] == '-' || s[i] == '+')) eneg = s[i++] == '-';
        size_t d0 = i;
        while (i < e && s[i] >= '0' && s[i] <= '9') {
            if (exp < 100000) exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (i == d0) return 1;
        if (eneg) exp = -exp;
    }
    if (i != e) return 1;
    double v;
    long e10 = exp - frac_digits;
    (void)dropped;
    if (sig <= 15 && e10 >= -22 && e10 <= 22) {
        v = (double)mant;
        v = e10 < 0 ? v / POW10[-e10] : v * POW10[e10];
        if (neg) v = -v;
    } else if (!nonzero) {
        v = neg ? -0.0 : 0.0;
    } else {
        char buf[512];
        if (e - b >= sizeof buf) return 1;
        memcpy(buf, s + b, e - b);
        buf[e - b] = 0;
        v = strtod(buf, NULL);
    }
    if (!isfinite(v)) return 1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* hashes: unigram words -> file index; (parent row, last word) -> row       */

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* A hash of the word [p, p + len); end: the end of the text (the last 1..7 bytes are read as one 8-byte load
 * when that stays inside the text, without a round trip through memory). */
static inline uint64_t word_hash(const uint8_t *p, size_t len, const uint8_t *end) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        if (end - p >= 8) {
            memcpy(&w, p, 8);
            w &= ~0ULL >> (64 - 8 * len); /* little-endian: the first len bytes */
        } else {
            for (size_t i = 0; i < len; i++) w |= (uint64_t)p[i] << (8 * i);
        }
        h ^= w;
    }
    h *= 0xc4ceb9fe1a85ec53ULL;
    return mix(h);
}

/* memcmp(a, b, len) == 0, inline for the short words of most vocabularies */
static inline int same(const uint8_t *a, const uint8_t *b, size_t len) {
    while (len >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
        a += 8;
        b += 8;
        len -= 8;
    }
    while (len--)
        if (*a++ != *b++) return 0;
    return 1;
}

static size_t table_size(int64_t m) {
    size_t t = 16;
    while (t < (size_t)m * 2 + 2) t <<= 1;
    return t;
}

/* Unigram words by hash. A slot holds what a lookup needs without touching the text: 32 hash bits, the file
 * index + 1 (0: empty), and the word's place in a compact copy of the unigram words (the text of a large
 * file is far apart; the copy stays in cache). */
typedef struct {
    uint32_t tag, index1, off, len;
} word_slot;

typedef struct {
    word_slot *slot;
    size_t mask;
    uint8_t *arena; /* the unigram words, one after the other */
    size_t used, cap;
} word_table;

/* Section k's rows by the 64-bit hash of their word ids (0 marks an empty slot; hashes are never 0). As in
 * KenLM, two different n-grams with one hash are not told apart; a hash seen twice is "not for the fast path". */
typedef struct {
    uint64_t key;
    int64_t row;
} row_slot;

typedef struct {
    row_slot *slot;
    size_t mask;
} row_table;

/* the hash of ids (w1..wj) from that of (w1..w_{j-1}) */
static inline uint64_t ids_hash(uint64_t h, int32_t id) {
    h = mix((h ^ ((uint64_t)(uint32_t)id + 1)) * 0x9e3779b97f4a7c15ULL);
    return h ? h : 1;
}

/* ------------------------------------------------------------------------ */
/* 3. sections                                                               */

/* The fields of line [b, e): up to cap (start, end) pairs; returns how many there are (may exceed cap). */
static int fields(const uint8_t *s, size_t b, size_t e, size_t *fb, size_t *fe, int cap) {
    int nf = 0;
    size_t i = b;
    for (;;) {
        while (i < e && is_sp(s[i])) i++;
        if (i >= e) return nf;
        size_t t = i;
        while (i < e && !is_sp(s[i])) i++;
        if (nf < cap) {
            fb[nf] = t;
            fe[nf] = i;
        }
        nf++;
    }
}

/* Section header "\K-grams:" (stripped), K == k with any leading zeros. */
static int section_header(const uint8_t *s, size_t b, size_t e, int k) {
    if (b >= e || s[b] != '\\') return 0;
    b++;
    int64_t got = digits(s, &b, e);
    return got == k && equals(s, b, e, "-grams:");
}

#define BATCH 32

int ngk_arpa_parse(const uint8_t *s, size_t n, const ngk_arpa_head *h, ngk_arpa_out *o) {
    cursor c = {s, n, h->pos};
    const int order = h->order;
    int rc = 1;
    word_table wt = {NULL, 0, NULL, 0, 0};
    row_table rt[NGK_ARPA_MAX_ORDER + 1]; /* rt[k]: section k's rows by their ids' hash, 2 <= k < N */
    memset(rt, 0, sizeof rt);
    size_t fb[NGK_ARPA_MAX_ORDER + 2], fe[NGK_ARPA_MAX_ORDER + 2];
    uint64_t hprefix[BATCH], hown[BATCH];
    int32_t first[BATCH]; /* file row of each line's first word */
    int32_t n_plain = 0;  /* unigrams that are not specials so far */
    const int64_t m1 = h->count[0];
    if (m1 >= INT32_MAX) return 1;
    {
        size_t ts = table_size(m1);
        wt.slot = calloc(ts, sizeof *wt.slot);
        wt.mask = ts - 1;
        if (!wt.slot) {
            rc = -1;
            BAIL_DONE;
        }
    }
    for (int k = 1; k <= order; k++) {
        const int64_t m = h->count[k - 1];
        const int top = k == order;
        size_t b, e;
        if (m >= INT32_MAX) BAIL_DONE;
        skip_blank(&c);
        if (!line_at(&c, &b, &e)) BAIL_DONE;
        strip(s, &b, &e);
        if (!section_header(s, b, e, k)) BAIL_DONE;
        advance(&c);
        row_table *cur = &rt[k], *below = &rt[k - 1];
        if (k >= 2 && !top) {
            size_t ts = table_size(m);
            cur->slot = calloc(ts, sizeof *cur->slot);
            cur->mask = ts - 1;
            if (!cur->slot) {
                rc = -1;
                BAIL_DONE;
            }
        }
        double *prob = o->prob[k - 1], *back = o->back[k - 1];
        int32_t *ids = o->ids[k - 1], *par = o->parent[k - 1];
        for (int64_t r0 = 0; r0 < m; r0 += BATCH) {
            const int64_t r1 = r0 + BATCH < m ? r0 + BATCH : m;
            /* pass 1: the text of the batch's lines; hashes of each line's prefix and of its ids, prefetched */
            for (int64_t r = r0; r < r1; r++) {
                if (!line_at(&c, &b, &e)) BAIL_DONE;
                if (b < e && s[b] == '\\') BAIL_DONE; /* the section ends early */
                int nf = fields(s, b, e, fb, fe, k + 2);
                if (!(nf == k + 1 || (nf == k + 2 && !top))) BAIL_DONE;
                double p, bo = 0.0;
                if (number(s, fb[0], fe[0], &p) || p > 0) BAIL_DONE;
                if (nf == k + 2 && number(s, fb[k + 1], fe[k + 1], &bo)) BAIL_DONE;
                prob[r] = p;
                back[r] = bo;
                int32_t *row_ids = ids + r * k;
                uint64_t hv_ids = 0;
                for (int j = 0; j < k; j++) {
                    const uint8_t *w = s + fb[j + 1];
                    size_t len = fe[j + 1] - fb[j + 1];
                    uint64_t hv = word_hash(w, len, s + n);
                    const uint32_t tag = (uint32_t)(hv >> 32);
                    size_t i = hv & wt.mask;
                    int32_t found = -1;
                    for (;; i = (i + 1) & wt.mask) {
                        const word_slot *sl = &wt.slot[i];
                        if (!sl->index1) break;
                        if (sl->tag == tag && sl->len == len && same(wt.arena + sl->off, w, len)) {
                            found = (int32_t)(sl->index1 - 1);
                            break;
                        }
                    }
                    if (k == 1) {
                        if (found >= 0) BAIL_DONE; /* listed twice */
                        if (len > UINT32_MAX || wt.used + len > UINT32_MAX) BAIL_DONE;
                        if (wt.used + len > wt.cap) {
                            size_t cap = (wt.cap ? wt.cap * 2 : 1 << 16) + len;
                            uint8_t *a = realloc(wt.arena, cap);
                            if (!a) {
                                rc = -1;
                                BAIL_DONE;
                            }
                            wt.arena = a;
                            wt.cap = cap;
                        }
                        memcpy(wt.arena + wt.used, w, len);
                        wt.slot[i] = (word_slot){tag, (uint32_t)r + 1, (uint32_t)wt.used, (uint32_t)len};
                        wt.used += len;
                        o->word[2 * r] = (int64_t)fb[1];
                        o->word[2 * r + 1] = (int64_t)len;
                        found = (int32_t)r;
                    } else if (found < 0) {
                        BAIL_DONE; /* not a unigram */
                    }
                    if (k == 1) {
                        /* the vocabulary id: a special's own, else the next after the specials */
                        int32_t id = -1;
                        for (int q = 0; q < o->n_specials; q++)
                            if ((size_t)o->special_len[q] == len && same(o->special[q], w, len)) id = q;
                        if (id < 0) id = o->n_specials + n_plain++;
                        o->vocab_id[r] = id;
                    }
                    if (j == 0) first[r - r0] = found;
                    const int32_t id = o->vocab_id[found];
                    row_ids[j] = id;
                    if (j == k - 1) hprefix[r - r0] = hv_ids;
                    hv_ids = ids_hash(hv_ids, id);
                }
                hown[r - r0] = hv_ids;
                if (k >= 3) __builtin_prefetch(&below->slot[hprefix[r - r0] & below->mask]);
                if (k >= 2 && !top) __builtin_prefetch(&cur->slot[hv_ids & cur->mask], 1);
                c.pos = e < n ? e + 1 : n;
            }
            if (k < 2) continue;
            /* pass 2: each line's prefix row in section k-1, and its own row in section k's table */
            for (int64_t r = r0; r < r1; r++) {
                if (k == 2) {
                    par[r] = first[r - r0];
                } else {
                    const uint64_t key = hprefix[r - r0];
                    size_t i = key & below->mask;
                    while (below->slot[i].key != key) {
                        if (!below->slot[i].key) BAIL_DONE; /* no such (k-1)-gram: a missing prefix */
                        i = (i + 1) & below->mask;
                    }
                    par[r] = (int32_t)below->slot[i].row;
                }
                if (!top) {
                    const uint64_t key = hown[r - r0];
                    size_t i = key & cur->mask;
                    while (cur->slot[i].key) {
                        if (cur->slot[i].key == key) BAIL_DONE; /* listed twice (or two n-grams, one hash) */
                        i = (i + 1) & cur->mask;
                    }
                    cur->slot[i].key = key;
                    cur->slot[i].row = r;
                }
            }
        }
        if (k >= 3) {
            free(below->slot); /* no longer needed */
            below->slot = NULL;
        }
        /* after the m lines: blank lines, then a line starting with '\' or the end */
        for (;;) {
            if (!line_at(&c, &b, &e)) break;
            if (b < e && s[b] == '\\') break;
            strip(s, &b, &e);
            if (b != e) BAIL_DONE;
            advance(&c);
        }
    }
    {
        size_t b, e;
        skip_blank(&c);
        if (!line_at(&c, &b, &e)) BAIL_DONE;
        strip(s, &b, &e);
        if (!equals(s, b, e, "\\end\\")) BAIL_DONE;
    }
    rc = 0;
done:
    free(wt.slot);
    free(wt.arena);
    for (int i = 0; i <= NGK_ARPA_MAX_ORDER; i++) free(rt[i].slot);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* writing                                                                   */

/* x as the numpy writer prints it: fixed point, 8 decimals, trailing zeros and a bare '.' dropped, -99 for
 * non-finite values and values below -99; the integer part as its last 3 digits (values are < 1000). */
static inline uint8_t *put_number(uint8_t *o, double x) {
    if (!isfinite(x) || x < -99.0) x = -99.0;
    int64_t a = (int64_t)rint(fabs(x) * 1e8);
    if (x < 0 && a > 0) *o++ = '-';
    int64_t ip = a / 100000000, fp = a % 100000000;
    int64_t d3 = ip % 1000;
    if (ip >= 100) *o++ = (uint8_t)('0' + d3 / 100);
    if (ip >= 10) *o++ = (uint8_t)('0' + d3 / 10 % 10);
    *o++ = (uint8_t)('0' + d3 % 10);
    if (fp) {
        *o++ = '.';
        uint8_t d[8];
        for (int i = 7; i >= 0; i--) {
            d[i] = (uint8_t)('0' + fp % 10);
            fp /= 10;
        }
        int len = 8;
        while (d[len - 1] == '0') len--;
        memcpy(o, d, 8);
        o += len;
    }
    return o;
}

int64_t ngk_arpa_format(const double *prob, const double *back, const int32_t *ids, int64_t m, int k,
                        const uint8_t *words, const int64_t *wstart, const int64_t *wlen, int64_t v, int32_t bos,
                        uint8_t *out, int64_t cap) {
    uint8_t *o = out, *end = out + cap;
    for (int64_t r = 0; r < m; r++) {
        const int32_t *row = ids + r * k;
        double p = prob[r];
        if ((isfinite(p) && p >= 1000.0) || (back && isfinite(back[r]) && back[r] >= 1000.0)) return -3;
        if (k == 1 && row[0] == bos) p = -99.0;
        int64_t need = 2 * 14 + 2 + k;
        for (int j = 0; j < k; j++) {
            if ((uint64_t)row[j] >= (uint64_t)v) return -2;
            need += wlen[row[j]];
        }
        if (end - o < need) return -1;
        o = put_number(o, p);
        *o++ = '\t';
        for (int j = 0; j < k; j++) {
            if (j) *o++ = ' ';
            memcpy(o, words + wstart[row[j]], (size_t)wlen[row[j]]);
            o += wlen[row[j]];
        }
        if (back) {
            *o++ = '\t';
            o = put_number(o, back[r]);
        }
        *o++ = '\n';
    }
    return o - out;
}
