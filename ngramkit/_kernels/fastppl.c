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
        int64_t id = ngk_vocab_find(m->blob, m->offsets, m->table, m->slots, (const char *)s, w.len[i]);
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
