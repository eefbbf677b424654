/* K-way merge of sorted n-gram runs (see merge.h). */
#define _GNU_SOURCE
#include "merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffered reader of fixed-size records ---------------------------------------------------------------- */
typedef struct {
    FILE *f;
    char *buf;
    size_t rec;      /* bytes per record */
    size_t cap;      /* records the buffer holds */
    size_t n, pos;   /* records in the buffer, next record */
    int eof;
} Reader;

static int reader_open(Reader *r, const char *path, size_t rec, int64_t bufsize, int64_t skip) {
    memset(r, 0, sizeof *r);
    r->rec = rec;
    r->cap = (size_t)(bufsize > 0 ? bufsize : 1) / rec;
    if (r->cap < 1) r->cap = 1;
    r->f = fopen(path, "rb");
    if (!r->f) return NGK_MERGE_ERR_IO;
    setvbuf(r->f, NULL, _IONBF, 0); /* our own buffer: one read(2) per refill */
    if (skip && fseeko(r->f, (off_t)skip, SEEK_SET) != 0) return NGK_MERGE_ERR_IO;
    r->buf = malloc(r->cap * rec);
    if (!r->buf) return NGK_MERGE_ERR_NOMEM;
    return 0;
}

/* Pointer to the next record (advancing), or NULL at the end; *err set on a read error or a partial record. */
static const char *reader_next(Reader *r, int *err) {
    if (r->pos == r->n) {
        if (r->eof) return NULL;
        size_t got = fread(r->buf, 1, r->cap * r->rec, r->f);
        if (got < r->cap * r->rec) {
            if (ferror(r->f)) { *err = NGK_MERGE_ERR_IO; return NULL; }
            r->eof = 1;
        }
        if (got % r->rec) { *err = NGK_MERGE_ERR_FORMAT; return NULL; }
        r->n = got / r->rec;
        r->pos = 0;
        if (r->n == 0) return NULL;
    }
    return r->buf + r->rec * r->pos++;
}

static void reader_close(Reader *r) {
    if (r->f) fclose(r->f);
    free(r->buf);
    r->f = NULL;
    r->buf = NULL;
}

/* ---- buffered writer ---------------------------------------------------------------------------------------- */
typedef struct {
    FILE *f;
    char *buf;
    size_t cap, n;
} Writer;

static int writer_open(Writer *w, const char *path, int64_t bufsize, int64_t skip) {
    memset(w, 0, sizeof *w);
    w->cap = (size_t)(bufsize > 4096 ? bufsize : 4096);
    w->f = fopen(path, "wb");
    if (!w->f) return NGK_MERGE_ERR_IO;
    setvbuf(w->f, NULL, _IONBF, 0);
    if (skip) { /* the reserved header: zeros now, the caller writes it at the end */
        char zero[256] = {0};
        int64_t left = skip;
        while (left > 0) {
            size_t step = left > 256 ? 256 : (size_t)left;
            if (fwrite(zero, 1, step, w->f) != step) return NGK_MERGE_ERR_IO;
            left -= (int64_t)step;
        }
    }
    w->buf = malloc(w->cap);
    if (!w->buf) return NGK_MERGE_ERR_NOMEM;
    return 0;
}

static int writer_flush(Writer *w) {
    if (w->n && fwrite(w->buf, 1, w->n, w->f) != w->n) return NGK_MERGE_ERR_IO;
    w->n = 0;
    return 0;
}

static inline int writer_put(Writer *w, const void *data, size_t len) {
    if (w->n + len > w->cap) {
        int rc = writer_flush(w);
        if (rc) return rc;
    }
    memcpy(w->buf + w->n, data, len);
    w->n += len;
    return 0;
}

/* Flush and close; 0 or an error (the close of a full disk can fail too). */
static int writer_close(Writer *w) {
    int rc = 0;
    if (w->f) {
        if (w->buf) rc = writer_flush(w);
        if (fclose(w->f) != 0 && !rc) rc = NGK_MERGE_ERR_IO;
    }
    free(w->buf);
    w->f = NULL;
    w->buf = NULL;
    return rc;
}

/* ---- the merge ---------------------------------------------------------------------------------------------- */
static inline int cmp_ids(const int32_t *a, const int32_t *b, int k) {
    for (int j = 0; j < k; j++)
        if (a[j] != b[j]) return a[j] < b[j] ? -1 : 1;
    return 0;
}

typedef struct {
    const char **cur; /* current record of each run */
    int *heap;        /* run indices, heap-ordered by current row */
    int size, k;
} Heap;

static inline int heap_less(const Heap *h, int a, int b) {
    int c = cmp_ids((const int32_t *)h->cur[a], (const int32_t *)h->cur[b], h->k);
    return c < 0 || (c == 0 && a < b);
}

static void sift_down(Heap *h, int i) {
    int x = h->heap[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->size) break;
        if (c + 1 < h->size && heap_less(h, h->heap[c + 1], h->heap[c])) c++;
        if (!heap_less(h, h->heap[c], x)) break;
        h->heap[i] = h->heap[c];
        i = c;
    }
    h->heap[i] = x;
}

#define CHECK_EVERY (1 << 21)

int64_t ngk_merge_runs(const char *const *runs, const int *count_bytes, int n_runs, int k, int64_t bufsize,
                       const char *out_record, const char *out_grams, const char *out_counts,
                       const char *out_parents, const char *prev_grams, int64_t header, ngk_check_fn check,
                       void *ctx, int *bad_file) {
    size_t rec = (size_t)k * 4 + 8; /* an output record (and the row buffer) */
    int final = out_record == NULL;
    int64_t rc = 0, rows = 0, parent = -1;
    *bad_file = -1;
    Reader *rd = calloc((size_t)(n_runs > 0 ? n_runs : 1), sizeof *rd);
    Heap h = {calloc((size_t)(n_runs > 0 ? n_runs : 1), sizeof(char *)),
              calloc((size_t)(n_runs > 0 ? n_runs : 1), sizeof(int)), 0, k};
    Writer wg = {0}, wc = {0}, wp = {0};
    Reader prev = {0};
    int32_t *row = malloc(rec);
    const int32_t *prow = NULL; /* current row of prev_grams */
    if (!rd || !h.cur || !h.heap || !row) { rc = NGK_MERGE_ERR_NOMEM; goto done; }
    for (int i = 0; i < n_runs; i++) {
        size_t width = count_bytes && count_bytes[i] == 4 ? 4 : 8;
        if ((rc = reader_open(&rd[i], runs[i], (size_t)k * 4 + width, bufsize, 0))) { *bad_file = i; goto done; }
    }
    if (final) {
        if ((rc = writer_open(&wg, out_grams, bufsize, header))) { *bad_file = n_runs; goto done; }
        if ((rc = writer_open(&wc, out_counts, bufsize, header))) { *bad_file = n_runs + 1; goto done; }
        if ((rc = writer_open(&wp, out_parents, bufsize, header))) { *bad_file = n_runs + 2; goto done; }
        if (k > 1 && (rc = reader_open(&prev, prev_grams, (size_t)(k - 1) * 4, bufsize, header))) {
            *bad_file = n_runs + 3;
            goto done;
        }
    } else if ((rc = writer_open(&wg, out_record, bufsize, 0))) {
        *bad_file = n_runs;
        goto done;
    }
    for (int i = 0; i < n_runs; i++) { /* prime the heap */
        int err = 0;
        const char *r = reader_next(&rd[i], &err);
        if (err) { rc = err; *bad_file = i; goto done; }
        if (r) { h.cur[i] = r; h.heap[h.size++] = i; }
    }
    for (int i = h.size / 2 - 1; i >= 0; i--) sift_down(&h, i);
    int have = 0;
    int64_t count = 0;
    for (;;) {
        const char *top = h.size ? h.cur[h.heap[0]] : NULL;
        if (!top || !have || cmp_ids((const int32_t *)top, row, k) != 0) {
            if (have) { /* emit the finished row */
                int c = top ? cmp_ids((const int32_t *)top, row, k) : 1;
                if (c < 0) { rc = NGK_MERGE_ERR_FORMAT; *bad_file = h.heap[0]; goto done; }
                if (final) {
                    if (k > 1) { /* parent: advance prev_grams to this row's prefix */
                        while (!prow || cmp_ids(prow, row, k - 1) < 0) {
                            int err = 0;
                            prow = (const int32_t *)reader_next(&prev, &err);
                            if (err || !prow) { rc = err ? err : NGK_MERGE_ERR_FORMAT; *bad_file = n_runs + 3; goto done; }
                            parent++;
                        }
                        if (cmp_ids(prow, row, k - 1) != 0) { rc = NGK_MERGE_ERR_FORMAT; *bad_file = n_runs + 3; goto done; }
                    } else {
                        parent = 0;
                    }
                    if ((rc = writer_put(&wg, row, (size_t)k * 4))) { *bad_file = n_runs; goto done; }
                    if ((rc = writer_put(&wc, &count, 8))) { *bad_file = n_runs + 1; goto done; }
                    if ((rc = writer_put(&wp, &parent, 8))) { *bad_file = n_runs + 2; goto done; }
                } else {
                    memcpy((char *)row + (size_t)k * 4, &count, 8);
                    if ((rc = writer_put(&wg, row, rec))) { *bad_file = n_runs; goto done; }
                }
                rows++;
                if (check && (rows & (CHECK_EVERY - 1)) == 0 && check(ctx)) { rc = NGK_MERGE_ERR_STOP; goto done; }
            }
            if (!top) break;
            memcpy(row, top, (size_t)k * 4);
            count = 0;
            have = 1;
        }
        int i = h.heap[0], err = 0;
        if (rd[i].rec == (size_t)k * 4 + 4) {
            int32_t c;
            memcpy(&c, top + (size_t)k * 4, 4);
            count += c;
        } else {
            int64_t c;
            memcpy(&c, top + (size_t)k * 4, 8);
            count += c;
        }
        const char *next = reader_next(&rd[i], &err);
        if (err) { rc = err; *bad_file = i; goto done; }
        if (next) {
            /* top's ids equal row (top's buffer may be refilled by now): a run must be strictly increasing */
            if (cmp_ids((const int32_t *)next, row, k) <= 0) { rc = NGK_MERGE_ERR_FORMAT; *bad_file = i; goto done; }
            h.cur[i] = next;
        } else {
            h.heap[0] = h.heap[--h.size];
        }
        if (h.size) sift_down(&h, 0);
    }
    rc = rows;
done:
    for (int i = 0; i < n_runs && rd; i++) reader_close(&rd[i]);
    reader_close(&prev);
    {
        int e1 = writer_close(&wg), e2 = writer_close(&wc), e3 = writer_close(&wp);
        if (rc >= 0 && (e1 || e2 || e3)) {
            rc = e1 ? e1 : e2 ? e2 : e3;
            *bad_file = n_runs + (e1 ? 0 : e2 ? 1 : 2);
        }
    }
    free(rd);
    free(h.cur);
    free(h.heap);
    free(row);
    return rc;
}

/* ---- rows of many queries in sorted keys (the out-of-core estimate's bucketed lookup) --------------------- */
#define LOOKUP_DIGIT 11
#define LOOKUP_RADIX (1 << LOOKUP_DIGIT)

int64_t ngk_lookup_scratch_bytes(int64_t nq) { return nq * 24; }

void ngk_lookup_sorted(const int64_t *keys, int64_t n, const int64_t *q, int64_t nq, int64_t base, int64_t *out,
                       void *scratch, int64_t *hits) {
    if (nq <= 0) return;
    if (n <= 0) {
        for (int64_t i = 0; i < nq; i++) out[i] = -1;
        return;
    }
    /* the queries within [keys[0], keys[n-1]], as offsets from keys[0], with their positions */
    uint64_t *d = (uint64_t *)scratch, *d2 = d + nq;
    uint32_t *pos = (uint32_t *)(d2 + nq), *pos2 = pos + nq;
    const int64_t k0 = keys[0], k1 = keys[n - 1];
    const uint64_t span = (uint64_t)k1 - (uint64_t)k0;
    int64_t m = 0;
    for (int64_t i = 0; i < nq; i++) {
        if (q[i] < k0 || q[i] > k1) {
            out[i] = -1;
            continue;
        }
        d[m] = (uint64_t)q[i] - (uint64_t)k0;
        pos[m++] = (uint32_t)i;
    }
    /* LSD radix sort of the offsets, LOOKUP_DIGIT bits a pass, over the bits the span needs; a pass whose digit
     * is the same in every offset moves nothing and is skipped */
    int bits = 0;
    while (bits < 64 && (span >> bits)) bits++;
    for (int shift = 0; shift < bits; shift += LOOKUP_DIGIT) {
        int64_t count[LOOKUP_RADIX] = {0};
        for (int64_t i = 0; i < m; i++) count[(d[i] >> shift) & (LOOKUP_RADIX - 1)]++;
        if (m == 0 || count[(d[0] >> shift) & (LOOKUP_RADIX - 1)] == m) continue;
        int64_t at = 0;
        for (int b = 0; b < LOOKUP_RADIX; b++) {
            int64_t c = count[b];
            count[b] = at;
            at += c;
        }
        for (int64_t i = 0; i < m; i++) {
            int64_t to = count[(d[i] >> shift) & (LOOKUP_RADIX - 1)]++;
            d2[to] = d[i];
            pos2[to] = pos[i];
        }
        uint64_t *td = d; d = d2; d2 = td;
        uint32_t *tp = pos; pos = pos2; pos2 = tp;
    }
    /* one forward walk through the keys: a gallop from the last answer to the next query */
    int64_t j = 0;
    for (int64_t r = 0; r < m; r++) {
        const int64_t target = (int64_t)((uint64_t)k0 + d[r]);
        if (keys[j] < target) {
            int64_t lo = j, step = 1;
            while (lo + step < n && keys[lo + step] < target) {
                lo += step;
                step <<= 1;
            }
            int64_t hi = lo + step < n ? lo + step : n; /* keys[lo] < target <= keys[hi] (or hi == n) */
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (keys[mid] < target) lo = mid;
                else hi = mid;
            }
            j = hi; /* target <= keys[n-1], so j < n */
        }
        if (keys[j] == target) {
            out[pos[r]] = base + j;
            if (hits) hits[j]++;
        } else {
            out[pos[r]] = -1;
        }
    }
}
