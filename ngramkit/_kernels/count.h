/* Counting kernels for ngramkit: see count.c for the input/output contracts. */
#ifndef NGRAMKIT_COUNT_H
#define NGRAMKIT_COUNT_H

#include <stdint.h>

#define NGK_ERR_NOMEM (-1)    /* malloc failed */
#define NGK_ERR_CAPACITY (-2) /* an output buffer is too small */
#define NGK_ERR_TOO_BIG (-3)  /* more than 2^31 - 2 distinct words, or a word over 2 GB */
#define NGK_ERR_INDEX (-4)    /* an index outside the table */

typedef struct {
    uint64_t prefix; /* first 8 bytes of the word, zero padded */
    int32_t id;      /* provisional id, 0 = empty slot */
    int32_t len;     /* byte length */
} ngk_slot;

/* Distinct words of a scanned buffer, in provisional id order (id = index + 1). */
typedef struct {
    int64_t *start; /* (n,) byte offset of the word in the scanned buffer */
    int32_t *len;   /* (n,) byte length */
    int64_t *count; /* (n,) occurrences */
    uint64_t *hash; /* (n,) */
    int64_t n, cap;
    ngk_slot *slots; /* open-addressing table, load <= 1/2 */
    int64_t n_slots;
} ngk_words;

int64_t ngk_scan(const uint8_t *data, int64_t n, int32_t *ids, int64_t ids_cap, int64_t *ends,
                 int64_t ends_cap, int64_t *n_sentences, ngk_words *words);
void ngk_words_free(ngk_words *words);

/* out = concatenation of src[starts[i] : starts[i] + lens[i]] for i < n (the ARPA writer's line
 * assembly). out_len must equal the sum of lens; NGK_ERR_INDEX if a segment leaves src. */
int ngk_gather(const uint8_t *src, int64_t src_len, const int32_t *starts, const int32_t *lens, int64_t n,
               uint8_t *out, int64_t out_len);

/* out[i] = table[idx[i]] (int32 or byte tables); NGK_ERR_INDEX if an index is out of range. */
int ngk_take32(const int32_t *idx, int64_t n, const int32_t *table, int64_t table_len, int32_t *out);
int ngk_take8(const int32_t *idx, int64_t n, const uint8_t *table, int64_t table_len, uint8_t *out);

void ngk_pad(const int32_t *ids, const int64_t *offsets, int64_t n_sent, int32_t bos, int32_t *out);

int64_t ngk_count_step(const int32_t *tok, const int64_t *offsets, int64_t n_sent, int k,
                       int32_t *rows, int32_t *parent, int32_t *last, int64_t *count, int64_t cap,
                       int64_t size_hint);

/* Sort the m rows of one order into lexicographic order: by (rank[parent[i]], last[i]),
 * two stable counting sorts (O(m + v + n_prev)). Outputs the permutation (perm[j] =
 * row at sorted position j), the sorted parent ranks and last words. rank: (n_prev,)
 * provisional row of the order below -> its sorted row. NGK_ERR_INDEX on bad input. */
int ngk_sort_rows(const int32_t *parent, const int32_t *last, int64_t m, const int64_t *rank, int64_t n_prev,
                  int64_t v, int32_t *perm, int64_t *sparent, int32_t *slast);

/* All orders 1..order of the unpadded stream from packed top-order keys (see count.c, 5).
 * rows[j]: (m[j],) sorted distinct j-grams as (packed key, count) pairs (the kv_t of count.c);
 * parent[j]: (m[j],) row of each j-gram's prefix in order j-1 (j >= 2). */
#define NGK_MAX_ORDER 12
typedef struct {
    int order, bits;
    int64_t v;
    int64_t m[NGK_MAX_ORDER + 1];
    void *rows[NGK_MAX_ORDER + 1];
    uint64_t *top; /* the top order as sorted key << top_cb | count (NULL: it is in rows[order]) */
    int top_cb;
    int64_t *parent[NGK_MAX_ORDER + 1];
} ngk_packed;

/* NGK_ERR_INDEX when an id is outside [0, v), or bits * order > 63, or v > 2^bits. */
int ngk_count_packed(const int32_t *ids, const int64_t *offsets, int64_t n_sent, int32_t bos, int order,
                     int bits, int64_t v, ngk_packed *st);
/* Order j as (m[j], j) int32 word ids, (m[j],) int64 counts, parent rows (0 for j = 1) and
 * keys parent * v + last word (NGramCounts.keys). */
int ngk_packed_fill(const ngk_packed *st, int j, int32_t *grams, int64_t *count, int64_t *parent, int64_t *keys);
void ngk_packed_free(ngk_packed *st);

#endif
