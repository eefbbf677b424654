/* `ngramkit ppl`'s fast path, the parts that are not Python (see fastppl.h for the contracts). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "count.h"
#include "fastppl.h"

/* ---- 1. the model file's layout ---------------------------------------------------------------------- */

static inline uint32_t u16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t u32(const uint8_t *p) { return u16(p) | u16(p + 2) << 16; }

static int printable_name(const uint8_t *p, int64_t n) {
    if (n < 1 || n > NGK_ZIP_NAME_MAX) return 0;
    for (int64_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '\\') return 0;
    return 1;
}

int64_t ngk_zip_members(ngk_read_fn rd, void *ctx, int64_t size, ngk_zip_member *out, int64_t cap) {
    /* End of central directory: the last 22 bytes, no comment (zipfile looks there first, then searches for
     * a comment: we decline that), and no zip64 locator before it (zipfile would follow it). */
    const uint8_t *f = size >= 42 ? rd(ctx, 0, 0, 4) : NULL;
    if (!f || memcmp(f, "PK\x03\x04", 4) != 0) return -1; /* npzfile._check_head */
    const uint8_t *tail = rd(ctx, 0, size - 42, 42), *e = tail ? tail + 20 : NULL;
    if (!e || memcmp(e, "PK\x05\x06", 4) != 0 || u16(e + 20) != 0) return -1;
    if (memcmp(tail, "PK\x06\x07", 4) == 0) return -1;
    int64_t size_cd = u32(e + 12), offset_cd = u32(e + 16);
    if (size - 22 - size_cd - offset_cd != 0) return -1; /* zipfile's "concat": data before the archive */
    const uint8_t *cd = rd(ctx, 0, offset_cd, size_cd), *cd_end = cd + size_cd;
    if (!cd) return -1;
    int64_t n = 0;
    for (const uint8_t *p = cd; p < cd_end;) {
        if (cd_end - p < 46 || memcmp(p, "PK\x01\x02", 4) != 0) return -1;
        uint32_t version = u16(p + 6), flags = u16(p + 8), method = u16(p + 10);
        int64_t csize = u32(p + 20), usize = u32(p + 24), name_len = u16(p + 28), extra_len = u16(p + 30),
                comment_len = u16(p + 32), header = u32(p + 42);
        if (version > 63 || flags != 0 || method != 0 || csize != usize || comment_len != 0) return -1;
        if (46 + name_len + extra_len > cd_end - p || !printable_name(p + 46, name_len)) return -1;
        /* zipfile's _decodeExtra: records of (id, length); a zip64 record would change the sizes: decline. */
        const uint8_t *x = p + 46 + name_len, *x_end = x + extra_len;
        while (x_end - x >= 4) {
            if (u16(x) == 1 || 4 + (int64_t)u16(x + 2) > x_end - x) return -1;
            x += 4 + u16(x + 2);
        }
        /* The local header (npzfile._member_span for arrays, zipfile.open for meta.json). */
        const uint8_t *h = header + 30 + name_len <= size ? rd(ctx, 1, header, 30 + name_len) : NULL;
        if (!h || memcmp(h, "PK\x03\x04", 4) != 0) return -1;
        int64_t start = header + 30 + u16(h + 26) + u16(h + 28);
        if (u16(h + 26) != name_len || memcmp(h + 30, p + 46, (size_t)name_len) != 0) return -1;
        if (start + csize > offset_cd) return -1;
        if (n == cap) return -1;
        ngk_zip_member *m = &out[n++];
        memcpy(m->name, p + 46, (size_t)name_len);
        m->name[name_len] = 0;
        m->header = header;
        m->start = start;
        m->length = csize;
        m->crc = u32(p + 16);
        p += 46 + name_len + extra_len;
    }
    /* No two members overlap (newer zipfiles refuse overlapping entries). */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            if (i != j && out[j].header >= out[i].header && out[j].header < out[i].start + out[i].length) return -1;
    return n;
}

static inline int64_t u64(const uint8_t *p) { return (int64_t)((uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32); }

#define QUERY_MAGIC 0x79726575716b676eLL /* "ngkquery" read as a little-endian int64 */
#define QUERY_NAME "query.npy"

/* A central-directory entry's sizes and header offset, the zip64 extra record (id 1) supplying those that
 * are 0xFFFFFFFF, in zipfile's order (size, compressed size, offset). 0, or -1. */
static int cd_entry(const uint8_t *p, int64_t *csize, int64_t *offset) {
    int64_t usize = u32(p + 24), name_len = u16(p + 28), extra_len = u16(p + 30);
    *csize = u32(p + 20);
    *offset = u32(p + 42);
    const uint8_t *x = p + 46 + name_len, *x_end = x + extra_len;
    while (x_end - x >= 4) {
        int64_t len = u16(x + 2);
        if (4 + len > x_end - x) return -1;
        if (u16(x) == 1) {
            const uint8_t *v = x + 4, *v_end = v + len;
            int64_t *field[3] = {&usize, csize, offset};
            for (int i = 0; i < 3; i++) {
                if (*field[i] != 0xFFFFFFFFLL) continue;
                if (v_end - v < 8) return -1;
                *field[i] = u64(v);
                v += 8;
            }
        }
        x += 4 + len;
    }
    return *csize == usize && *csize >= 0 && *offset >= 0 ? 0 : -1;
}

static int span_ok(const int64_t *span, int64_t size, int64_t align) {
    return span[0] >= 0 && span[1] >= 0 && span[0] <= size && span[1] <= size - span[0] && span[0] % align == 0;
}

int ngk_query_header(ngk_read_fn rd, void *ctx, int64_t size, ngk_query *q) {
    if (size < 22) return -1;
    const int64_t base = size > NGK_QUERY_TAIL ? size - NGK_QUERY_TAIL : 0;
    const uint8_t *t = rd(ctx, 0, base, size - base);
    if (!t) return -1;
    const uint8_t *e = t + (size - base) - 22;
    if (memcmp(e, "PK\x05\x06", 4) != 0 || u16(e + 20) != 0) return -1; /* no comment: zipfile's first look */
    int64_t cd_size = u32(e + 12), cd_off = u32(e + 16), cd_end = size - 22;
    if (size - base >= 22 + 20 + 56 && memcmp(e - 20, "PK\x06\x07", 4) == 0) {
        /* zipfile's _EndRecData64: the zip64 record just before the locator, no extensible data */
        const uint8_t *r = e - 20 - 56;
        if (u64(e - 20 + 8) != size - 22 - 20 - 56 || memcmp(r, "PK\x06\x06", 4) != 0) return -1;
        cd_size = u64(r + 40);
        cd_off = u64(r + 48);
        cd_end = size - 22 - 20 - 56;
    }
    if (cd_size < 0 || cd_off < base || cd_off > cd_end || cd_size != cd_end - cd_off) return -1;
    int64_t meta_crc = -1, q_off = -1, q_size = 0;
    uint32_t q_crc = 0;
    const uint8_t *p = t + (cd_off - base), *end = t + (cd_end - base);
    while (p < end) {
        if (end - p < 46 || memcmp(p, "PK\x01\x02", 4) != 0) return -1;
        int64_t name_len = u16(p + 28), skip = 46 + name_len + u16(p + 30) + u16(p + 32), csize, offset;
        if (skip > end - p || u16(p + 10) != 0 || cd_entry(p, &csize, &offset) != 0) return -1; /* stored only */
        if (name_len == 9 && memcmp(p + 46, "meta.json", 9) == 0) meta_crc = u32(p + 16); /* the last one wins */
        if (name_len == 9 && memcmp(p + 46, QUERY_NAME, 9) == 0) {
            q_off = offset;
            q_size = csize;
            q_crc = u32(p + 16);
        }
        p += skip;
    }
    if (meta_crc < 0 || q_off < 0 || q_off > cd_off - 30) return -1;
    /* The member: its local header and data, before the central directory (in the tail read, or read now). */
    const uint8_t *h = q_off >= base ? t + (q_off - base) : rd(ctx, 1, q_off, cd_off - q_off);
    if (!h || memcmp(h, "PK\x03\x04", 4) != 0 || u16(h + 26) != 9 || memcmp(h + 30, QUERY_NAME, 9) != 0) return -1;
    int64_t data_at = 30 + 9 + u16(h + 28);
    if (data_at > cd_off - q_off || q_size > cd_off - q_off - data_at) return -1;
    const uint8_t *data = h + data_at;
    if (ngk_crc32(data, q_size) != q_crc) return -1;
    char descr[8];
    int ndim;
    int64_t shape[2], at;
    if (ngk_npy_header(data, q_size, descr, &ndim, shape, &at) != 0 || strcmp(descr, "<i8") != 0 || ndim != 1 ||
        shape[0] < 6 || shape[0] > 64 || at + 8 * shape[0] != q_size)
        return -1;
    int64_t v[64];
    for (int64_t i = 0; i < shape[0]; i++) v[i] = u64(data + at + 8 * i);
    const int64_t order = v[3], vocab = v[4];
    if (v[0] != QUERY_MAGIC || v[1] != 1 || v[2] != meta_crc || order < 1 || order > NGK_SCORE_MAX_ORDER ||
        vocab < 4 || vocab > INT32_MAX || (v[5] != 0 && v[5] != 1) || shape[0] != 6 + 2 * (order + 3))
        return -1;
    q->order = (int)order;
    q->vocab = vocab;
    q->closed = (int)v[5];
    const int64_t *span = v + 6;
    for (int64_t k = 1; k <= order; k++, span += 2) {
        int64_t width = 8 * NGK_PROBE_STRIDE(k, order);
        if (!span_ok(span, size, 8) || span[1] == 0 || span[1] % width != 0 || (k == 1 && span[1] != 24 * vocab))
            return -1;
        q->probe[k - 1][0] = span[0];
        q->probe[k - 1][1] = span[1];
    }
    int64_t slots = 16;
    while (slots <= 2 * vocab) slots *= 2; /* npzfile.vocab_slots: the size the writer gives (the normal path's) */
    if (!span_ok(span, size, 1) || !span_ok(span + 2, size, 8) || span[3] != 8 * (vocab + 1) ||
        !span_ok(span + 4, size, 4) || span[5] != 4 * slots)
        return -1;
    memcpy(q->words, span, sizeof q->words);
    memcpy(q->offsets, span + 2, sizeof q->offsets);
    memcpy(q->index, span + 4, sizeof q->index);
    return 0;
}

static uint32_t crc_table[256];
static int crc_ready;

uint32_t ngk_crc32(const uint8_t *p, int64_t n) {
    if (!crc_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
        crc_ready = 1;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (int64_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Match the literal s at *p (advancing past it), or fail. */
static int lit(const char **p, const char *end, const char *s) {
    size_t k = strlen(s);
    if ((size_t)(end - *p) < k || memcmp(*p, s, k) != 0) return 0;
    *p += k;
    return 1;
}

static int number(const char **p, const char *end, int64_t *v) {
    const char *q = *p;
    int64_t x = 0;
    if (q >= end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < end && q[1] >= '0' && q[1] <= '9')) return 0;
    while (q < end && *q >= '0' && *q <= '9') {
        if (x > (INT64_MAX - 9) / 10) return 0;
        x = 10 * x + (*q++ - '0');
    }
    *v = x;
    *p = q;
    return 1;
}

int ngk_npy_header(const uint8_t *b, int64_t len, char descr[8], int *ndim, int64_t shape[2], int64_t *data) {
    if (len < 10 || memcmp(b, "\x93NUMPY\x01\x00", 8) != 0) return -1;
    int64_t hlen = u16(b + 8);
    if (hlen > 1024 || 10 + hlen > len || (10 + hlen) % 64 != 0) return -1;
    const char *p = (const char *)b + 10, *end = p + hlen;
    if (!lit(&p, end, "{'descr': '")) return -1;
    int k = 0;
    while (p < end && *p != '\'' && k < 7) descr[k++] = *p++;
    descr[k] = 0;
    if (k == 0 || !lit(&p, end, "', 'fortran_order': False, 'shape': (")) return -1;
    int d = 0;
    if (!lit(&p, end, ")")) {
        for (;;) {
            if (d == 2 || !number(&p, end, &shape[d])) return -1;
            d++;
            if (lit(&p, end, ")")) break;                 /* (a, b) */
            if (!lit(&p, end, ",")) return -1;
            if (lit(&p, end, ")")) { if (d != 1) return -1; break; } /* (a,) */
            if (!lit(&p, end, " ")) return -1;
        }
        if (d == 1 && p[-2] != ',') return -1;              /* (a) is not a tuple */
    }
    if (!lit(&p, end, ", }")) return -1;
    while (p < end - 1 && *p == ' ') p++;
    if (p != end - 1 || *p != '\n') return -1;
    *ndim = d;
    *data = 10 + hlen;
    return 0;
}

/* ---- 2. scoring a block ------------------------------------------------------------------------------ */

static double pairwise(const double *a, int64_t n) {
    if (n < 8) {
        double res = 0.;
        for (int64_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        int64_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

/* One pairwise sum over the whole buffer, added to the identity 0.0 (so -0.0 sums to 0.0): the order of
 * numpy >= 2's contiguous float64 sum (numpy 1.x cut it into buffers of 8192 elements). The normal path
 * (ngramkit.evaluate) sums its chunks with this function too, so both paths agree whatever numpy is
 * installed; the tests compare it with a Python transcription and, under numpy >= 2, with numpy's sum. */
double ngk_pairwise_sum(const double *a, int64_t n) {
    return 0.0 + pairwise(a, n);
}

int ngk_utf8_valid(const uint8_t *s, int64_t n) {
    int64_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        int k;
        uint32_t lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c == 0xE0) { k = 2; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) k = 2;
        else if (c == 0xED) { k = 2; hi = 0x9F; } /* no surrogates */
        else if (c >= 0xEE && c <= 0xEF) k = 2;
        else if (c == 0xF0) { k = 3; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) k = 3;
        else if (c == 0xF4) { k = 3; hi = 0x8F; }
        else return 0;
        if (n - i <= k || s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (int j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

int ngk_fast_block(const ngk_fast_model *m, const uint8_t *data, int64_t n, double ln10, ngk_fast_totals *t) {
    memset(t, 0, sizeof *t);
    int rc = NGK_FAST_NOMEM;
    ngk_words w;
    memset(&w, 0, sizeof w);
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    int64_t *ends = malloc(((size_t)n / 2 + 1) * sizeof *ends);
    int32_t *local = NULL, *padded = NULL;
    uint8_t *oov_of = NULL;
    int64_t *poff = NULL;
    double *out = NULL;
    if (!ids || !ends) goto done;
    int64_t n_sent = 0;
    int64_t n_tok = ngk_scan(data, n, ids, n + 1, ends, n / 2 + 1, &n_sent, &w);
    if (n_tok < 0) { rc = n_tok == NGK_ERR_NOMEM ? NGK_FAST_NOMEM : NGK_FAST_DECLINE; goto done; }
    /* Block id -> vocabulary id (0: the sentence end), and which ids are outside the vocabulary. */
    local = malloc(((size_t)w.n + 1) * sizeof *local);
    oov_of = calloc((size_t)w.n + 1, 1);
    if (!local || !oov_of) goto done;
    local[0] = m->eos;
    for (int64_t i = 0; i < w.n; i++) {
        const uint8_t *s = data + w.start[i];
        if (!ngk_utf8_valid(s, w.len[i])) { rc = NGK_FAST_DECLINE; goto done; }
        int64_t id = ngk_vocab_find(m->blob, m->offsets[m->ix->vocab], m->offsets, m->ix->vocab, m->table, m->slots,
                                    (const char *)s, w.len[i]);
        local[i + 1] = id >= 0 ? (int32_t)id : m->unk;
        oov_of[i + 1] = id < 0;
    }
    /* The padded stream: <s> w1 .. wn </s> per sentence. */
    padded = malloc(((size_t)n_tok + (size_t)n_sent + 1) * sizeof *padded);
    poff = malloc(((size_t)n_sent + 1) * sizeof *poff);
    out = malloc(((size_t)n_tok + 1) * sizeof *out);
    if (!padded || !poff || !out) goto done;
    int64_t o = 0, prev = 0;
    poff[0] = 0;
    for (int64_t s = 0; s < n_sent; s++) {
        padded[o++] = m->bos;
        for (int64_t j = prev; j < ends[s]; j++) padded[o++] = local[ids[j]];
        prev = ends[s];
        poff[s + 1] = o;
    }
    if (ngk_probe_score(m->ix, padded, poff, n_sent, m->suffix_closed, out) != n_tok) {
        rc = NGK_FAST_DECLINE;
        goto done;
    }
    for (int64_t j = 0; j < n_tok; j++) {
        double x = out[j] * ln10; /* the normal path's natural log (BackoffModel.log_probs) */
        if (isnan(x)) { rc = NGK_FAST_DECLINE; goto done; }
        if (isinf(x) && x < 0) t->zeroprobs++;
        out[j] = x / ln10; /* and back to log10 (evaluate.Totals.add) */
    }
    t->tokens = n_tok;
    t->sentences = n_sent;
    t->sum10 = ngk_pairwise_sum(out, n_tok);
    int64_t n_iv = 0; /* the in-vocabulary tokens' values, moved to the front of out */
    for (int64_t j = 0; j < n_tok; j++)
        if (oov_of[ids[j]]) t->oovs++;
        else out[n_iv++] = out[j];
    t->sum10_iv = ngk_pairwise_sum(out, n_iv);
    rc = 0;
done:
    ngk_words_free(&w);
    free(ids);
    free(ends);
    free(local);
    free(oov_of);
    free(padded);
    free(poff);
    free(out);
    return rc;
}
