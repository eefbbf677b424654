/* Counting kernels for ngramkit (plain C, no Python.h; bound in count_module.c).
 *
 * 1. ngk_scan: UTF-8 bytes -> provisional word ids.
 *    Input: a byte buffer. Lines are split like Python's str.splitlines() and
 *    words like str.split() (every character str.isspace() accepts, ASCII and
 *    the Unicode ones, is a separator; \n \r \v \f \x1c-\x1e U+0085 U+2028
 *    U+2029 end a line). Each non-empty line is a sentence.
 *    Output: ids (T,) int32: the words of every sentence followed by 0 (the
 *    sentence end); words get provisional ids 1, 2, ... in first-seen order.
 *    ends (S,) int64: end (exclusive) of every sentence in ids. A table of the
 *    distinct words (start offset, byte length, count) in provisional id order.
 *    Bytes are classified 64 at a time into bit masks (SSE2 where available) and
 *    word boundaries taken from the masks; a block holding a lead byte of a
 *    possible Unicode space (0xc2 0xe1 0xe2 0xe3) is scanned byte by byte.
 *
 * 2. ngk_pad: (ids, offsets) -> the padded stream <s> w1 .. wn </s> per sentence.
 *
 * 3. ngk_count_step: one order of n-gram counting with a hash table.
 *    Input: tok (n,) int32 padded stream, offsets (S+1,) int64 sentence
 *    boundaries in tok, rows (n,) int32 the provisional row of the (k-1)-gram
 *    starting at every position. Output: rows updated in place to the row of
 *    the k-gram starting there (positions p <= end - k of each sentence), and
 *    for every new k-gram, in first-seen order: parent row, last word, count.
 *    Used when the packed path (5) does not apply: b * K > 63 bits.
 *
 * 4. ngk_sort_rows: lexicographic order of the rows made by 3.
 *
 * 5. ngk_count_packed / ngk_packed_fill: every order 1..K of the unpadded id
 *    stream at once, hashing only the top order as packed uint64 keys (one
 *    read of the stream; lower orders derived from the distinct top-order
 *    rows). Output: per order j the sorted distinct j-grams, their counts and
 *    the row of their (j-1)-prefix. Details above ngk_count_packed.
 */
#define _GNU_SOURCE /* madvise(MADV_HUGEPAGE) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "count.h"

/* Big arrays: 2 MB aligned and backed by huge pages where the OS allows it. A
 * fresh malloc'ed array costs one page fault per 4 kB on first touch (in a VM
 * as much as the sort that fills it), and one TLB entry per 2 MB instead of per
 * 4 kB makes the random probes of a 16 MB hash table about twice as fast. */
static void *huge_alloc(size_t bytes) {
    void *p = NULL;
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        bytes = (bytes + huge - 1) / huge * huge;
        if (posix_memalign(&p, huge, bytes)) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
        return p;
    }
    return malloc(bytes > 0 ? bytes : 1);
}

/* A hash table: huge_alloc'ed and filled with 0xff bytes (every slot empty). */
static void *table_alloc(size_t bytes) {
    void *p = huge_alloc(bytes);
    if (p) memset(p, 0xff, bytes);
    return p;
}

/* ------------------------------------------------------------------------ */
/* byte classes: 0 word byte, 1 space, 2 line break, 3 maybe a multi-byte space */
static unsigned char byte_class[256];
static int classes_ready = 0;

static void init_classes(void) {
    if (classes_ready) return;
    memset(byte_class, 0, sizeof byte_class);
    byte_class[' '] = byte_class['\t'] = byte_class[0x1f] = 1;
    byte_class['\n'] = byte_class['\r'] = byte_class['\v'] = byte_class['\f'] = 2;
    byte_class[0x1c] = byte_class[0x1d] = byte_class[0x1e] = 2;
    byte_class[0xc2] = byte_class[0xe1] = byte_class[0xe2] = byte_class[0xe3] = 3;
    classes_ready = 1;
}

/* Multi-byte whitespace at p (class-3 lead byte): returns its length and sets
 * *is_break; 0 if the bytes are not a whitespace character. */
static int multibyte_space(const uint8_t *p, const uint8_t *end, int *is_break) {
    int64_t left = end - p;
    *is_break = 0;
    if (p[0] == 0xc2) {
        if (left >= 2 && p[1] == 0x85) { *is_break = 1; return 2; }
        if (left >= 2 && p[1] == 0xa0) return 2;
        return 0;
    }
    if (left < 3) return 0;
    if (p[0] == 0xe1) return (p[1] == 0x9a && p[2] == 0x80) ? 3 : 0;
    if (p[0] == 0xe3) return (p[1] == 0x80 && p[2] == 0x80) ? 3 : 0;
    /* 0xe2 */
    if (p[1] == 0x80) {
        if (p[2] >= 0x80 && p[2] <= 0x8a) return 3;
        if (p[2] == 0xa8 || p[2] == 0xa9) { *is_break = 1; return 3; }
        if (p[2] == 0xaf) return 3;
        return 0;
    }
    if (p[1] == 0x81 && p[2] == 0x9f) return 3;
    return 0;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

/* Up to 8 bytes at p (len of them, the rest zero) as a little-endian word, without
 * reading past end: when 8 bytes are readable one unaligned load and a mask. */
static inline uint64_t load_prefix(const uint8_t *p, int64_t len, const uint8_t *end) {
    uint64_t w = 0;
    if (len > 8) len = 8;
    if (end - p >= 8) {
        memcpy(&w, p, 8);
        if (len < 8) w &= (((uint64_t)1 << (8 * len)) - 1);
        return w;
    }
    for (int64_t i = 0; i < len; i++) w |= (uint64_t)p[i] << (8 * i);
    return w;
}

static inline uint64_t hash_word(const uint8_t *p, int64_t n, uint64_t prefix, const uint8_t *end) {
    uint64_t h = (prefix ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    for (int64_t i = 8; i < n; i += 8) {
        h ^= h >> 29;
        h = (h ^ load_prefix(p + i, n - i, end)) * 0xc4ceb9fe1a85ec53ULL;
    }
    return mix64(h);
}

static int words_grow(ngk_words *w) {
    int64_t cap = w->cap ? w->cap * 2 : 1024;
    int64_t *start = realloc(w->start, (size_t)cap * sizeof *start);
    if (!start) return -1;
    w->start = start;
    int32_t *len = realloc(w->len, (size_t)cap * sizeof *len);
    if (!len) return -1;
    w->len = len;
    int64_t *count = realloc(w->count, (size_t)cap * sizeof *count);
    if (!count) return -1;
    w->count = count;
    uint64_t *hash = realloc(w->hash, (size_t)cap * sizeof *hash);
    if (!hash) return -1;
    w->hash = hash;
    w->cap = cap;
    return 0;
}

/* Rebuild the slot table (ids, prefixes, lengths) from the stored words. */
static int table_rehash(ngk_words *w, const uint8_t *data, const uint8_t *end, int64_t n_slots) {
    ngk_slot *slots = calloc((size_t)n_slots, sizeof *slots);
    if (!slots) return -1;
    uint64_t mask = (uint64_t)n_slots - 1;
    for (int64_t i = 0; i < w->n; i++) {
        uint64_t s = w->hash[i] & mask;
        while (slots[s].id) s = (s + 1) & mask;
        slots[s].id = (int32_t)(i + 1);
        slots[s].len = w->len[i];
        slots[s].prefix = load_prefix(data + w->start[i], w->len[i], end);
    }
    free(w->slots);
    w->slots = slots;
    w->n_slots = n_slots;
    return 0;
}

void ngk_words_free(ngk_words *w) {
    free(w->start);
    free(w->len);
    free(w->count);
    free(w->hash);
    free(w->slots);
    memset(w, 0, sizeof *w);
}

/* Provisional id of the word data[a:b], inserting it when new; < 0 on error. */
static inline int64_t word_id(ngk_words *w, const uint8_t *data, const uint8_t *end, int64_t a, int64_t b) {
    int64_t n = b - a;
    uint64_t prefix = load_prefix(data + a, n, end);
    uint64_t h = hash_word(data + a, n, prefix, end);
    uint64_t mask = (uint64_t)w->n_slots - 1;
    uint64_t s = h & mask;
    ngk_slot *slots = w->slots;
    for (;;) {
        ngk_slot *sl = &slots[s];
        if (!sl->id) break;
        if (sl->prefix == prefix && sl->len == n &&
            (n <= 8 || memcmp(data + w->start[sl->id - 1] + 8, data + a + 8, (size_t)(n - 8)) == 0)) {
            w->count[sl->id - 1]++;
            return sl->id;
        }
        s = (s + 1) & mask;
    }
    if (n > INT32_MAX || w->n >= INT32_MAX - 1) return NGK_ERR_TOO_BIG;
    if (w->n == w->cap && words_grow(w)) return NGK_ERR_NOMEM;
    int64_t i = w->n++;
    w->start[i] = a;
    w->len[i] = (int32_t)n;
    w->count[i] = 1;
    w->hash[i] = h;
    slots[s].id = (int32_t)(i + 1);
    slots[s].len = (int32_t)n;
    slots[s].prefix = prefix;
    if (2 * w->n > w->n_slots && table_rehash(w, data, end, w->n_slots * 2)) return NGK_ERR_NOMEM;
    return i + 1;
}

/* Scanner state shared by the 64-byte block path and the byte-by-byte path. Line
 * breaks are remembered (pending_break) and close the sentence when the next word
 * starts, or at the end of the data, so empty lines never make sentences. */
typedef struct {
    const uint8_t *data;
    int64_t n;
    int32_t *ids;
    int64_t ids_cap;
    int64_t *ends;
    int64_t ends_cap;
    int64_t t, s, line_start_t; /* tokens, sentences, first token of the open sentence */
    int64_t word_start;         /* start of the open word, -1 if none */
    int pending_break;          /* a line break since the last word */
    ngk_words *w;
} scanner;

static inline int64_t close_sentence(scanner *sc) {
    if (sc->t > sc->line_start_t) {
        if (sc->t >= sc->ids_cap || sc->s >= sc->ends_cap) return NGK_ERR_CAPACITY;
        sc->ids[sc->t++] = 0;
        sc->ends[sc->s++] = sc->t;
        sc->line_start_t = sc->t;
    }
    return 0;
}

static inline int64_t start_word(scanner *sc, int64_t at, int has_break) {
    if (has_break || sc->pending_break) {
        int64_t rc = close_sentence(sc);
        if (rc) return rc;
    }
    sc->pending_break = 0;
    sc->word_start = at;
    return 0;
}

static inline int64_t end_word(scanner *sc, int64_t at) {
    int64_t id = word_id(sc->w, sc->data, sc->data + sc->n, sc->word_start, at);
    if (id < 0) return id;
    if (sc->t >= sc->ids_cap) return NGK_ERR_CAPACITY;
    sc->ids[sc->t++] = (int32_t)id;
    sc->word_start = -1;
    return 0;
}

/* Byte by byte from p up to at least limit (a multi-byte space may run past it); returns the
 * position reached, or an error code (< 0). */
static int64_t scan_bytes(scanner *sc, int64_t p, int64_t limit) {
    const uint8_t *data = sc->data;
    while (p < limit) {
        int cls = byte_class[data[p]];
        int is_break = cls == 2;
        int64_t sep = cls == 1 || cls == 2;
        if (cls == 3) sep = multibyte_space(data + p, data + sc->n, &is_break);
        if (sep) {
            if (sc->word_start >= 0) {
                int64_t rc = end_word(sc, p);
                if (rc) return rc;
            }
            sc->pending_break |= is_break;
            p += sep;
        } else {
            if (sc->word_start < 0) {
                int64_t rc = start_word(sc, p, 0);
                if (rc) return rc;
            }
            p++;
        }
    }
    return p;
}

/* Classify 64 bytes: separators (ASCII whitespace), line breaks, and lead bytes of
 * possible multi-byte spaces (0xc2 0xe1 0xe2 0xe3), one bit per byte. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline void classify64(const uint8_t *p, uint64_t *sep, uint64_t *brk, uint64_t *special) {
    uint64_t s = 0, b = 0, x = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        /* unsigned x <= k  <=>  min(x, k) == x */
#define LE(x, k) _mm_cmpeq_epi8(_mm_min_epu8((x), _mm_set1_epi8((char)(k))), (x))
        __m128i a9 = _mm_sub_epi8(v, _mm_set1_epi8(9));   /* 9..13: \t \n \v \f \r */
        __m128i a28 = _mm_sub_epi8(v, _mm_set1_epi8(28)); /* 28..32: \x1c-\x1f and space */
        __m128i a10 = _mm_sub_epi8(v, _mm_set1_epi8(10)); /* 10..13 break */
        __m128i sp = _mm_or_si128(LE(a9, 4), LE(a28, 4));
        __m128i br = _mm_or_si128(LE(a10, 3), LE(a28, 2));
        __m128i e1 = _mm_sub_epi8(v, _mm_set1_epi8((char)0xe1));
        __m128i sc = _mm_or_si128(LE(e1, 2), _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xc2)));
#undef LE
        s |= (uint64_t)(uint16_t)_mm_movemask_epi8(sp) << (16 * i);
        b |= (uint64_t)(uint16_t)_mm_movemask_epi8(br) << (16 * i);
        x |= (uint64_t)(uint16_t)_mm_movemask_epi8(sc) << (16 * i);
    }
    *sep = s;
    *brk = b;
    *special = x;
}
#else
static inline void classify64(const uint8_t *p, uint64_t *sep, uint64_t *brk, uint64_t *special) {
    uint64_t s = 0, b = 0, x = 0;
    for (int i = 0; i < 64; i++) {
        unsigned c = byte_class[p[i]];
        s |= (uint64_t)(c == 1 || c == 2) << i;
        b |= (uint64_t)(c == 2) << i;
        x |= (uint64_t)(c == 3) << i;
    }
    *sep = s;
    *brk = b;
    *special = x;
}
#endif

int64_t ngk_scan(const uint8_t *data, int64_t n, int32_t *ids, int64_t ids_cap, int64_t *ends,
                 int64_t ends_cap, int64_t *n_sentences, ngk_words *w) {
    init_classes();
    memset(w, 0, sizeof *w);
    if (table_rehash(w, data, data + n, 1 << 12)) return NGK_ERR_NOMEM;
    scanner sc = {data, n, ids, ids_cap, ends, ends_cap, 0, 0, 0, -1, 0, w};
    int64_t p = 0, rc;
    while (p + 64 <= n) {
        uint64_t sep, brk, special;
        classify64(data + p, &sep, &brk, &special);
        if (special) { /* a possible Unicode space: this block byte by byte */
            p = scan_bytes(&sc, p, p + 64);
            if (p < 0) return p;
            continue;
        }
        /* Word boundaries as bit events, in position order: a start is a non-separator after
         * a separator (or after a closed word), an end a separator after a word byte. */
        uint64_t prev_sep = (sep << 1) | (sc.word_start < 0 ? 1u : 0u);
        uint64_t starts = ~sep & prev_sep, stops = sep & ~prev_sep;
        uint64_t events = starts | stops;
        int last_stop = 0; /* bit after which line breaks count for the next word */
        while (events) {
            int i = __builtin_ctzll(events);
            events &= events - 1;
            if ((stops >> i) & 1) {
                if ((rc = end_word(&sc, p + i))) return rc;
                last_stop = i;
            } else {
                uint64_t between = brk & ~((1ull << last_stop) - 1) & ((1ull << i) - 1);
                if ((rc = start_word(&sc, p + i, between != 0))) return rc;
            }
        }
        if (sc.word_start < 0) sc.pending_break |= (brk & ~((1ull << last_stop) - 1)) != 0;
        p += 64;
    }
    p = scan_bytes(&sc, p, n);
    if (p < 0) return p;
    if (sc.word_start >= 0 && (rc = end_word(&sc, n))) return rc;
    if ((rc = close_sentence(&sc))) return rc;
    *n_sentences = sc.s;
    return sc.t;
}

/* ------------------------------------------------------------------------ */
int ngk_take32(const int32_t *idx, int64_t n, const int32_t *table, int64_t table_len, int32_t *out) {
    for (int64_t i = 0; i < n; i++) {
        if ((uint64_t)idx[i] >= (uint64_t)table_len) return NGK_ERR_INDEX;
        out[i] = table[idx[i]];
    }
    return 0;
}

int ngk_take8(const int32_t *idx, int64_t n, const uint8_t *table, int64_t table_len, uint8_t *out) {
    for (int64_t i = 0; i < n; i++) {
        if ((uint64_t)idx[i] >= (uint64_t)table_len) return NGK_ERR_INDEX;
        out[i] = table[idx[i]];
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
void ngk_pad(const int32_t *ids, const int64_t *offsets, int64_t n_sent, int32_t bos, int32_t *out) {
    int64_t o = 0;
    for (int64_t s = 0; s < n_sent; s++) {
        int64_t a = offsets[s], b = offsets[s + 1];
        out[o++] = bos;
        memcpy(out + o, ids + a, (size_t)(b - a) * sizeof *ids);
        o += b - a;
    }
}

/* ------------------------------------------------------------------------ */
typedef struct {
    uint64_t key;   /* parent << 32 | last; UINT64_MAX = empty */
    int32_t row;    /* first-seen row of this n-gram */
    uint32_t count; /* occurrences mod 2^32; the carries go to a side array */
} slot_t;

static inline uint64_t slot_of(uint64_t key, int shift) {
    return (key * 0x9e3779b97f4a7c15ULL) >> shift;
}

static inline uint64_t key_at(const int32_t *tok, const int32_t *rows, int64_t p, int k) {
    return ((uint64_t)(uint32_t)rows[p] << 32) | (uint32_t)tok[p + k - 1];
}

/* Grow the table by 2^by; returns NULL (and frees nothing) when out of memory. */
static slot_t *grow(slot_t *table, int64_t n_slots, int bits, int by) {
    int64_t new_slots = n_slots << by;
    slot_t *bigger = table_alloc((size_t)new_slots * sizeof *bigger);
    if (!bigger) return NULL;
    int shift = 64 - (bits + by);
    uint64_t mask = (uint64_t)new_slots - 1;
    for (int64_t j = 0; j < n_slots; j++) {
        if (table[j].key == UINT64_MAX) continue;
        uint64_t q = slot_of(table[j].key, shift);
        while (bigger[q].key != UINT64_MAX) q = (q + 1) & mask;
        bigger[q] = table[j];
    }
    return bigger;
}

#define PREFETCH_DISTANCE 32

int64_t ngk_count_step(const int32_t *tok, const int64_t *offsets, int64_t n_sent, int k,
                       int32_t *rows, int32_t *parent, int32_t *last, int64_t *count, int64_t cap,
                       int64_t size_hint) {
    int bits = 10;
    while (bits < 40 && ((int64_t)3 << bits) < 4 * size_hint) bits++;
    int64_t n_slots = (int64_t)1 << bits;
    slot_t *table = table_alloc((size_t)n_slots * sizeof *table);
    if (!table) return NGK_ERR_NOMEM;
    int shift = 64 - bits;
    uint64_t mask = (uint64_t)n_slots - 1;
    int64_t m = 0, n = offsets[n_sent];
    /* count_hi[row]: how many times the row's 32-bit count wrapped (rare; allocated lazily) */
    int64_t *count_hi = NULL;
    for (int64_t s = 0; s < n_sent; s++) {
        int64_t a = offsets[s], e = offsets[s + 1] - k; /* last start position in this sentence */
        for (int64_t p = a; p <= e; p++) {
            int64_t q = p + PREFETCH_DISTANCE;
            if (q + k - 1 < n) __builtin_prefetch(&table[slot_of(key_at(tok, rows, q, k), shift)]);
            uint64_t key = key_at(tok, rows, p, k);
            uint64_t i = slot_of(key, shift);
            for (;;) {
                slot_t *sl = &table[i];
                if (sl->key == key) {
                    if (++sl->count == 0) {
                        if (!count_hi) {
                            count_hi = calloc((size_t)(cap > 0 ? cap : 1), sizeof *count_hi);
                            if (!count_hi) {
                                free(table);
                                return NGK_ERR_NOMEM;
                            }
                        }
                        count_hi[sl->row]++;
                    }
                    rows[p] = sl->row;
                    break;
                }
                if (sl->key == UINT64_MAX) {
                    if (m >= cap || m >= INT32_MAX) {
                        free(table);
                        free(count_hi);
                        return NGK_ERR_CAPACITY;
                    }
                    sl->key = key;
                    sl->row = (int32_t)m;
                    sl->count = 1;
                    parent[m] = rows[p];
                    last[m] = tok[p + k - 1];
                    rows[p] = (int32_t)m;
                    m++;
                    if (4 * m > 3 * n_slots) { /* keep the load <= 3/4 */
                        /* x4 while small (fewer rehashes), x2 past 2^22 slots (64 MB) */
                        int by = bits < 22 ? 2 : 1;
                        slot_t *bigger = grow(table, n_slots, bits, by);
                        free(table);
                        if (!bigger) {
                            free(count_hi);
                            return NGK_ERR_NOMEM;
                        }
                        table = bigger;
                        n_slots <<= by;
                        bits += by;
                        shift = 64 - bits;
                        mask = (uint64_t)n_slots - 1;
                    }
                    break;
                }
                i = (i + 1) & mask;
            }
        }
    }
    for (int64_t j = 0; j < n_slots; j++) {
        if (table[j].key == UINT64_MAX) continue;
        int32_t r = table[j].row;
        count[r] = (int64_t)table[j].count + (count_hi ? count_hi[r] << 32 : 0);
    }
    free(table);
    free(count_hi);
    return m;
}

/* ------------------------------------------------------------------------ */
int ngk_sort_rows(const int32_t *parent, const int32_t *last, int64_t m, const int64_t *rank, int64_t n_prev,
                  int64_t v, int32_t *perm, int64_t *sparent, int32_t *slast) {
    for (int64_t i = 0; i < m; i++) {
        if ((uint64_t)parent[i] >= (uint64_t)n_prev || (uint64_t)last[i] >= (uint64_t)v) return NGK_ERR_INDEX;
        if ((uint64_t)rank[parent[i]] >= (uint64_t)n_prev) return NGK_ERR_INDEX;
    }
    int64_t buckets = v > n_prev ? v : n_prev;
    int64_t *hist = calloc((size_t)buckets + 1, sizeof *hist);
    int32_t *tmp = malloc((size_t)(m > 0 ? m : 1) * sizeof *tmp);
    if (!hist || !tmp) {
        free(hist);
        free(tmp);
        return NGK_ERR_NOMEM;
    }
    /* pass 1: stable counting sort of the rows by last word */
    for (int64_t i = 0; i < m; i++) hist[last[i] + 1]++;
    for (int64_t b = 0; b < v; b++) hist[b + 1] += hist[b];
    for (int64_t i = 0; i < m; i++) tmp[hist[last[i]]++] = (int32_t)i;
    /* pass 2: stable counting sort by the parent's sorted row: (parent rank, last) order */
    memset(hist, 0, ((size_t)buckets + 1) * sizeof *hist);
    for (int64_t i = 0; i < m; i++) hist[rank[parent[i]] + 1]++;
    for (int64_t b = 0; b < n_prev; b++) hist[b + 1] += hist[b];
    for (int64_t j = 0; j < m; j++) {
        int32_t i = tmp[j];
        int64_t r = rank[parent[i]];
        int64_t at = hist[r]++;
        perm[at] = i;
        sparent[at] = r;
        slast[at] = last[i];
    }
    free(hist);
    free(tmp);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* 5. ngk_count_packed: all orders 1..K from the unpadded id stream, hashing the
 *    top order only.
 *
 *    Every K-gram is packed into one uint64 (bits per id b, the first word in
 *    the high bits, so numeric order is lexicographic order; needs b*K <= 63)
 *    and counted in one open-addressing table with software prefetching (keys
 *    are made in batches, the slot of key j + PF_DIST is prefetched while key j
 *    is inserted). <s> is not copied into the stream: each sentence's rolling
 *    key starts from it.
 *
 *    Lower orders never touch the stream again: a j-gram occurrence at position
 *    p of a padded sentence of length L is the prefix of the (j+1)-gram at p
 *    unless p = L - j (it ends the sentence). So
 *        count_j(g) = sum of count_{j+1} over g's one-word extensions
 *                     + the number of sentences that end with g,
 *    and the distinct j-grams are the sorted prefixes of the (j+1)-grams merged
 *    with the distinct sentence tails of length j. The tails are the last
 *    min(L, K-1) tokens of every sentence (S of them, counted in a small second
 *    table); the merge costs O(M_{j+1} + tails), not O(N).
 */
#define PF_DIST 16
#define BATCH 512
#define PACK_EMPTY UINT64_MAX

typedef struct {
    uint64_t key;
    uint64_t count;
} kv_t;

typedef struct {
    kv_t *slots;
    int64_t n_slots, m;
    int bits;
} ptable;

static inline uint64_t pslot(uint64_t key, int bits) {
    key ^= key >> 31;
    return (key * 0x9e3779b97f4a7c15ULL) >> (64 - bits);
}

static int ptable_init(ptable *t, int bits) {
    t->bits = bits;
    t->n_slots = (int64_t)1 << bits;
    t->m = 0;
    t->slots = table_alloc((size_t)t->n_slots * sizeof(kv_t));
    return t->slots ? 0 : NGK_ERR_NOMEM;
}

static inline void ptable_add(ptable *t, uint64_t key, uint64_t i, uint64_t c) {
    uint64_t mask = (uint64_t)t->n_slots - 1;
    kv_t *s = t->slots;
    for (;;) {
        if (s[i].key == key) {
            s[i].count += c;
            return;
        }
        if (s[i].key == PACK_EMPTY) {
            s[i].key = key;
            s[i].count = c;
            t->m++;
            return;
        }
        i = (i + 1) & mask;
    }
}

/* Make room for `more` new keys at load <= 3/4. */
static int ptable_reserve(ptable *t, int64_t more) {
    if (4 * (t->m + more) <= 3 * t->n_slots) return 0;
    int bits = t->bits;
    while (4 * (t->m + more) > 3 * ((int64_t)1 << bits)) bits += bits < 22 ? 2 : 1;
    ptable bigger;
    if (ptable_init(&bigger, bits)) return NGK_ERR_NOMEM;
    for (int64_t j = 0; j < t->n_slots; j++)
        if (t->slots[j].key != PACK_EMPTY)
            ptable_add(&bigger, t->slots[j].key, pslot(t->slots[j].key, bits), t->slots[j].count);
    free(t->slots);
    *t = bigger;
    return 0;
}

/* Zeroed memory (calloc: fresh pages are not written), huge pages where possible. */
static void *zero_alloc(size_t bytes) {
    void *p = calloc(1, bytes > 0 ? bytes : 1);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (p && e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
#endif
    return p;
}

/* The top-order table: 8-byte slots holding key << cbits | c with c in [1, cmax]
 * (0 = empty slot), so a slot is half the size of a (key, count) pair and a
 * 64-byte line holds 8 of them. A count that would pass cmax spills cmax into
 * the small side table ovf (key -> spilled total): count = c + ovf[key]. */
typedef struct {
    uint64_t *slots;
    int64_t n_slots, m;
    int bits, cbits;
    ptable ovf;
} gtable;

static int gtable_init(gtable *t, int bits, int cbits) {
    t->bits = bits;
    t->cbits = cbits;
    t->n_slots = (int64_t)1 << bits;
    t->m = 0;
    t->slots = zero_alloc((size_t)t->n_slots * sizeof *t->slots);
    return t->slots ? 0 : NGK_ERR_NOMEM;
}

static inline int gtable_add(gtable *t, uint64_t key, uint64_t i) {
    const int cb = t->cbits;
    const uint64_t cmax = ((uint64_t)1 << cb) - 1, mask = (uint64_t)t->n_slots - 1;
    uint64_t *s = t->slots;
    for (;;) {
        uint64_t x = s[i];
        if (x == 0) {
            s[i] = (key << cb) | 1;
            t->m++;
            return 0;
        }
        if ((x >> cb) == key) {
            if ((x & cmax) != cmax) {
                s[i] = x + 1;
                return 0;
            }
            if (!t->ovf.slots && ptable_init(&t->ovf, 6)) return NGK_ERR_NOMEM;
            if (ptable_reserve(&t->ovf, 1)) return NGK_ERR_NOMEM;
            ptable_add(&t->ovf, key, pslot(key, t->ovf.bits), cmax);
            s[i] = (key << cb) | 1;
            return 0;
        }
        i = (i + 1) & mask;
    }
}

static int gtable_reserve(gtable *t, int64_t more) {
    if (4 * (t->m + more) <= 3 * t->n_slots) return 0;
    int bits = t->bits;
    while (4 * (t->m + more) > 3 * ((int64_t)1 << bits)) bits += bits < 22 ? 2 : 1;
    uint64_t *bigger = zero_alloc(((size_t)1 << bits) * sizeof *bigger);
    if (!bigger) return NGK_ERR_NOMEM;
    const uint64_t mask = ((uint64_t)1 << bits) - 1;
    for (int64_t j = 0; j < t->n_slots; j++) {
        uint64_t x = t->slots[j];
        if (!x) continue;
        uint64_t q = pslot(x >> t->cbits, bits);
        while (bigger[q]) q = (q + 1) & mask;
        bigger[q] = x;
    }
    free(t->slots);
    t->slots = bigger;
    t->bits = bits;
    t->n_slots = (int64_t)1 << bits;
    return 0;
}

/* Insert a batch of keys (one occurrence each), prefetching PF_DIST keys ahead. */
static int gtable_add_batch(gtable *t, const uint64_t *keys, int n) {
    if (gtable_reserve(t, n)) return NGK_ERR_NOMEM;
    uint64_t h[BATCH];
    const int bits = t->bits;
    for (int j = 0; j < n; j++) h[j] = pslot(keys[j], bits);
    for (int j = 0; j < n && j < PF_DIST; j++) __builtin_prefetch(&t->slots[h[j]], 1);
    for (int j = 0; j < n; j++) {
        if (j + PF_DIST < n) __builtin_prefetch(&t->slots[h[j + PF_DIST]], 1);
        if (gtable_add(t, keys[j], h[j])) return NGK_ERR_NOMEM;
    }
    return 0;
}

/* LSD radix sort of a[0..n) by bits [lo, hi) with 8-bit digits, ping-ponging with
 * tmp[0..n); the result ends in a. For small, cache-resident ranges. */
static void lsd_u64(uint64_t *a, uint64_t *tmp, int64_t n, int lo, int hi) {
    if (n <= 32) { /* insertion sort (the keys compared are distinct bit ranges of distinct keys) */
        for (int64_t i = 1; i < n; i++) {
            uint64_t x = a[i], kx = (x >> lo) & (hi - lo >= 64 ? UINT64_MAX : ((uint64_t)1 << (hi - lo)) - 1);
            int64_t j = i;
            while (j > 0) {
                uint64_t kj = (a[j - 1] >> lo) & (hi - lo >= 64 ? UINT64_MAX : ((uint64_t)1 << (hi - lo)) - 1);
                if (kj <= kx) break;
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    uint64_t *src = a, *dst = tmp;
    for (int sh = lo; sh < hi; sh += 8) {
        int64_t h[257] = {0};
        uint64_t dmask = hi - sh >= 8 ? 255 : ((uint64_t)1 << (hi - sh)) - 1;
        for (int64_t i = 0; i < n; i++) h[((src[i] >> sh) & dmask) + 1]++;
        if (h[((src[0] >> sh) & dmask) + 1] == n) continue;
        for (int r = 0; r < 256; r++) h[r + 1] += h[r];
        for (int64_t i = 0; i < n; i++) dst[h[(src[i] >> sh) & dmask]++] = src[i];
        uint64_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

/* Sort a[0..n) by bits [lo, hi): one pass by the top 11 bits into buckets that
 * fit in cache, then each bucket by the rest (one trip through main memory instead
 * of one per digit). */
static int sort_u64(uint64_t *a, int64_t n, int lo, int hi) {
    if (n < 2 || hi <= lo) return 0;
    int top = hi - lo < 11 ? hi - lo : 11;
    int sh = hi - top;
    int64_t R = (int64_t)1 << top;
    int64_t *h = calloc((size_t)R + 1, sizeof *h);
    uint64_t *tmp = huge_alloc((size_t)n * sizeof *tmp);
    if (!h || !tmp) {
        free(h);
        free(tmp);
        return NGK_ERR_NOMEM;
    }
    const uint64_t dmask = (uint64_t)R - 1;
    for (int64_t i = 0; i < n; i++) h[((a[i] >> sh) & dmask) + 1]++;
    for (int64_t r = 0; r < R; r++) h[r + 1] += h[r];
    int64_t *pos = malloc((size_t)R * sizeof *pos);
    if (!pos) {
        free(h);
        free(tmp);
        return NGK_ERR_NOMEM;
    }
    memcpy(pos, h, (size_t)R * sizeof *pos);
    for (int64_t i = 0; i < n; i++) tmp[pos[(a[i] >> sh) & dmask]++] = a[i];
    free(pos);
    for (int64_t r = 0; r < R; r++) {
        int64_t b0 = h[r], nb = h[r + 1] - b0;
        if (nb == 0) continue;
        memcpy(a + b0, tmp + b0, (size_t)nb * sizeof *a);
        if (nb > 1 && sh > lo) lsd_u64(a + b0, tmp + b0, nb, lo, sh);
    }
    free(h);
    free(tmp);
    return 0;
}

/* The distinct entries of a table, in slot order; the table is freed. */
static kv_t *ptable_drain(ptable *t, int64_t *m) {
    kv_t *out = huge_alloc((size_t)t->m * sizeof *out);
    if (out) {
        int64_t o = 0;
        for (int64_t j = 0; j < t->n_slots; j++)
            if (t->slots[j].key != PACK_EMPTY) out[o++] = t->slots[j];
        *m = o;
    }
    free(t->slots);
    t->slots = NULL;
    return out;
}

/* LSD radix sort of (key, count) pairs by key (keys < 2^key_bits), 11-bit digits;
 * digits where every key agrees are skipped. */
static int radix_sort_kv(kv_t *a, int64_t n, int key_bits) {
    enum { D = 11, R = 1 << 11 };
    int passes = (key_bits + D - 1) / D;
    if (n < 2 || passes == 0) return 0;
    int64_t(*hist)[R] = calloc((size_t)passes, sizeof *hist);
    kv_t *tmp = huge_alloc((size_t)n * sizeof *tmp);
    if (!hist || !tmp) {
        free(hist);
        free(tmp);
        return NGK_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        for (int p = 0; p < passes; p++) hist[p][(a[i].key >> (D * p)) & (R - 1)]++;
    kv_t *src = a, *dst = tmp;
    for (int p = 0; p < passes; p++) {
        int64_t *h = hist[p], sum = 0;
        if (h[(src[0].key >> (D * p)) & (R - 1)] == n) continue; /* one digit value: nothing moves */
        for (int r = 0; r < R; r++) {
            int64_t c = h[r];
            h[r] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++) dst[h[(src[i].key >> (D * p)) & (R - 1)]++] = src[i];
        kv_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
    free(hist);
    free(tmp);
    return 0;
}

/* Sum the counts of equal adjacent keys of a sorted array in place; returns the new length. */
static int64_t unique_kv(kv_t *a, int64_t n) {
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        if (o > 0 && a[o - 1].key == a[i].key) a[o - 1].count += a[i].count;
        else a[o++] = a[i];
    }
    return o;
}

void ngk_packed_free(ngk_packed *st) {
    free(st->top);
    for (int j = 0; j <= NGK_MAX_ORDER; j++) {
        free(st->rows[j]);
        free(st->parent[j]);
    }
    memset(st, 0, sizeof *st);
}

/* Key and count of row r of order j: the top order is usually kept as its sorted
 * slots (key << top_cb | count), the others as (key, count) pairs. */
static inline uint64_t row_key(const ngk_packed *st, int j, int64_t r) {
    return j == st->order && st->top ? st->top[r] >> st->top_cb : ((const kv_t *)st->rows[j])[r].key;
}

static inline uint64_t row_count(const ngk_packed *st, int j, int64_t r) {
    return j == st->order && st->top ? st->top[r] & (((uint64_t)1 << st->top_cb) - 1)
                                     : ((const kv_t *)st->rows[j])[r].count;
}

/* Order j from order j+1 (sorted) and the sorted unique tails of length j: the
 * merge described above. Sets parent[j+1]. */
static int derive_lower(ngk_packed *st, int j, const kv_t *tails, int64_t n_tails) {
    int64_t mu = st->m[j + 1], b = st->bits;
    int64_t cap = mu + n_tails;
    kv_t *out = huge_alloc((size_t)cap * sizeof *out);
    int64_t *par = huge_alloc((size_t)mu * sizeof *par);
    if (!out || !par) {
        free(out);
        free(par);
        return NGK_ERR_NOMEM;
    }
    int64_t r = 0, t = 0, o = 0;
    while (r < mu || t < n_tails) {
        uint64_t pk = r < mu ? row_key(st, j + 1, r) >> b : PACK_EMPTY;
        uint64_t tk = t < n_tails ? tails[t].key : PACK_EMPTY;
        uint64_t k = pk < tk ? pk : tk, c = 0;
        if (tk == k) c += tails[t++].count;
        while (r < mu && (row_key(st, j + 1, r) >> b) == k) {
            c += row_count(st, j + 1, r);
            par[r++] = o;
        }
        out[o].key = k;
        out[o].count = c;
        o++;
    }
    st->rows[j] = out;
    st->m[j] = o;
    st->parent[j + 1] = par;
    return 0;
}

int ngk_count_packed(const int32_t *ids, const int64_t *offsets, int64_t n_sent, int32_t bos, int order,
                     int bits, int64_t v, ngk_packed *st) {
    memset(st, 0, sizeof *st);
    if (order < 2 || order > NGK_MAX_ORDER || bits < 1 || bits * order > 63 || v > ((int64_t)1 << bits) ||
        bos < 0 || bos >= v)
        return NGK_ERR_INDEX;
    st->order = order;
    st->bits = bits;
    st->v = v;
    const int K = order;
    const uint64_t mask_k = ((uint64_t)1 << (bits * K)) - 1;
    const int tail_shift = 59; /* tail length tag; bits * (K - 1) <= 59 (see below) */
    gtable grams;
    ptable tails;
    uint64_t buf[BATCH];
    int nb = 0, rc = 0;
    uint32_t bad = 0;
    memset(&grams, 0, sizeof grams);
    /* first size: room for half the windows at load 3/4 (text has about 0.6 distinct trigrams per
     * token at 1M tokens, fewer beyond), at most 2^20 slots; the table grows past that */
    int64_t windows = offsets[n_sent] - n_sent * (K - 2), init_bits = 10;
    while (init_bits < 20 && 3 * ((int64_t)1 << init_bits) < 2 * windows) init_bits++;
    if (gtable_init(&grams, (int)init_bits, 64 - bits * K)) return NGK_ERR_NOMEM;
    if (ptable_init(&tails, 10)) {
        free(grams.slots);
        return NGK_ERR_NOMEM;
    }
    /* b*K <= 63 and K <= 12: b*(K-1) = b*K - b <= 59 when b >= 4, and <= 3*11 = 33 when b <= 3. */
    for (int64_t s = 0; s < n_sent; s++) {
        int64_t a = offsets[s], e = offsets[s + 1];
        uint64_t key = (uint64_t)bos;
        int64_t i = a, warm = a + K - 2 < e ? a + K - 2 : e; /* the first K-2 words only fill the window */
        for (; i < warm; i++) {
            bad |= (uint32_t)ids[i] >= (uint64_t)v;
            key = (key << bits) | (uint32_t)ids[i];
        }
        for (; i < e; i++) {
            bad |= (uint32_t)ids[i] >= (uint64_t)v;
            key = ((key << bits) | (uint32_t)ids[i]) & mask_k;
            buf[nb++] = key;
            if (nb == BATCH) {
                if (bad) goto bad_id;
                if ((rc = gtable_add_batch(&grams, buf, nb))) goto fail;
                nb = 0;
            }
        }
        /* the sentence tail: its last min(L, K-1) tokens (L = e - a + 1 with <s>) */
        int64_t len = e - a + 1 < K - 1 ? e - a + 1 : K - 1;
        uint64_t tail = (key & (((uint64_t)1 << (bits * len)) - 1)) | ((uint64_t)len << tail_shift);
        if ((rc = ptable_reserve(&tails, 1))) goto fail;
        ptable_add(&tails, tail, pslot(tail, tails.bits), 1);
    }
    if (bad) goto bad_id;
    if (nb && (rc = gtable_add_batch(&grams, buf, nb))) goto fail;

    /* top order: the occupied slots, sorted by key (the bits above the count) */
    int64_t m = 0, n_tails = 0;
    const int cb = grams.cbits;
    uint64_t *packed = grams.slots;
    for (int64_t j = 0; j < grams.n_slots; j++)
        if (packed[j]) packed[m++] = packed[j]; /* compact in place */
    kv_t *tl = ptable_drain(&tails, &n_tails);
    kv_t *suffix = malloc((size_t)(n_tails > 0 ? n_tails : 1) * sizeof *suffix);
    if (!tl || !suffix || (rc = sort_u64(packed, m, cb, 64))) {
        free(tl);
        free(suffix);
        free(grams.slots);
        free(grams.ovf.slots);
        return rc ? rc : NGK_ERR_NOMEM;
    }
    st->m[K] = m;
    if (!grams.ovf.m) { /* every count fits its field: keep the sorted slots as they are */
        st->top = packed;
        st->top_cb = cb;
    } else { /* some counts spilled: (key, count) pairs with the spilled parts added */
        const uint64_t cmax = ((uint64_t)1 << cb) - 1, qmask = (uint64_t)grams.ovf.n_slots - 1;
        kv_t *top = huge_alloc((size_t)m * sizeof *top);
        if (!top) {
            free(tl);
            free(suffix);
            free(grams.slots);
            free(grams.ovf.slots);
            return NGK_ERR_NOMEM;
        }
        for (int64_t r = 0; r < m; r++) {
            top[r].key = packed[r] >> cb;
            top[r].count = packed[r] & cmax;
            for (uint64_t q = pslot(top[r].key, grams.ovf.bits); grams.ovf.slots[q].key != PACK_EMPTY;
                 q = (q + 1) & qmask)
                if (grams.ovf.slots[q].key == top[r].key) {
                    top[r].count += grams.ovf.slots[q].count;
                    break;
                }
        }
        free(grams.slots);
        st->rows[K] = top;
    }
    free(grams.ovf.slots);
    /* lower orders, K-1 down to 1: the sentences ending with each j-gram, then the merge */
    for (int j = K - 1; j >= 1; j--) {
        int64_t n = 0;
        uint64_t mask_j = ((uint64_t)1 << (bits * j)) - 1;
        for (int64_t t = 0; t < n_tails; t++)
            if ((int64_t)(tl[t].key >> tail_shift) >= j) {
                suffix[n].key = tl[t].key & mask_j;
                suffix[n++].count = tl[t].count;
            }
        if ((rc = radix_sort_kv(suffix, n, bits * j))) break;
        n = unique_kv(suffix, n);
        if ((rc = derive_lower(st, j, suffix, n))) break;
    }
    free(suffix);
    free(tl);
    if (rc) ngk_packed_free(st);
    return rc;
bad_id:
    rc = NGK_ERR_INDEX;
fail:
    free(grams.slots);
    free(grams.ovf.slots);
    free(tails.slots);
    return rc;
}

int ngk_packed_fill(const ngk_packed *st, int j, int32_t *grams, int64_t *count, int64_t *parent, int64_t *keys) {
    if (j < 1 || j > st->order) return NGK_ERR_INDEX;
    const int b = st->bits;
    const uint64_t id_mask = ((uint64_t)1 << b) - 1;
    for (int64_t r = 0; r < st->m[j]; r++) {
        uint64_t key = row_key(st, j, r);
        for (int c = j - 1; c >= 0; c--, key >>= b) grams[r * j + c] = (int32_t)(key & id_mask);
        count[r] = (int64_t)row_count(st, j, r);
        parent[r] = j > 1 ? st->parent[j][r] : 0;
        keys[r] = parent[r] * st->v + grams[r * j + j - 1];
    }
    return 0;
}

int ngk_gather(const uint8_t *src, int64_t src_len, const int32_t *starts, const int32_t *lens, int64_t n,
               uint8_t *out, int64_t out_len) {
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t s = starts[i], l = lens[i];
        if (s < 0 || l < 0 || s + l > src_len) return NGK_ERR_INDEX;
        if (pos + l > out_len) return NGK_ERR_CAPACITY;
        memcpy(out + pos, src + s, (size_t)l);
        pos += l;
    }
    return pos == out_len ? 0 : NGK_ERR_CAPACITY;
}
