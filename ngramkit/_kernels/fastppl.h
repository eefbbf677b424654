/* The pieces of `ngramkit ppl`'s fast path (ngramkit/fastppl.py) that are not Python: plain C, no Python.h.
 *
 * 1. ngk_zip_members / ngk_npy_header: the layout of a native model file (ngramkit/npzfile.py) read from its
 *    headers (by a reader the caller gives), accepting only what ngramkit's writer produces (a stored zip with no zip64 end record, flags 0,
 *    no comment; canonical .npy 1.0 headers). Anything else returns -1: the caller then leaves the file to
 *    the normal path (zipfile + numpy), which accepts more and names what is wrong. So a file accepted here
 *    is one the normal path accepts too (the tests fuzz both).
 * 2. ngk_fast_block: one block of text (whole lines, UTF-8) -> its tokens' log10 probabilities summed as the
 *    normal path sums them: the scanner of count.c (ngk_scan: str.splitlines/str.split semantics), the
 *    vocabulary hash of score.c, the probing scorer of score.c (ngk_probe_score), then per block
 *    x10 = (log10 * ln 10) / ln 10 (the normal path's natural log and back) and the pairwise sum
 *    (ngk_pairwise_sum) over all tokens and over the in-vocabulary ones.
 */
#ifndef NGRAMKIT_FASTPPL_H
#define NGRAMKIT_FASTPPL_H

#include <stdint.h>

#include "score.h"

#define NGK_ZIP_NAME_MAX 64

typedef struct {
    char name[NGK_ZIP_NAME_MAX + 1]; /* the central directory's name (printable ASCII) */
    int64_t header;                  /* offset of the local header */
    int64_t start, length;           /* the member's bytes: after the local header, compress_size long */
    uint32_t crc;                    /* the central directory's CRC-32 */
} ngk_zip_member;

/* The bytes [off, off + len) of the file, valid until the next call with the same `slot` (0 or 1), or NULL
 * (outside the file, a read error). The caller's: pread into buffers, so that reading a few headers does not
 * fault in the pages of a mapping (one fault costs about as much as 30 small reads: a model file's 30-odd
 * headers lie megabytes apart). */
typedef const uint8_t *(*ngk_read_fn)(void *ctx, int slot, int64_t off, int64_t len);

/* The members of the zip file of `size` bytes read through rd(ctx, ...), in central-directory order (at most
 * `cap`), or -1 (see 1 above). */
int64_t ngk_zip_members(ngk_read_fn rd, void *ctx, int64_t size, ngk_zip_member *out, int64_t cap);

/* The query header (ngramkit/npzfile.py, QUERY_MEMBER): a model file that stores a probing index ends with the
 * member query.npy, an int64 array written after meta.json: "ngkquery", its layout (1), meta.json's CRC-32,
 * the order, the vocabulary size, whether the index is suffix-closed, then (start, bytes) in the file of the
 * arrays probe1 .. probeN, vocab.words, vocab.offsets and vocab.index. ngk_query_header reads it from the
 * file's last NGK_QUERY_TAIL bytes (one read where the central directory fits there: the member lies just
 * before it) and fills q, or returns -1 when the file does not end that way, the member's CRC-32 or meta.json's
 * differ from what the central directory says (the header was not written with this metadata), or a span is
 * outside the file or not the size its order and the vocabulary give. Zip64 end records are followed. The
 * arrays' contents are not read: the scorers bound every lookup (score.h), so the header is all an open
 * needs; a damaged array gives wrong numbers, never a fault (load_model(verify=True) checks them all). */
#define NGK_QUERY_TAIL 16384
typedef struct {
    int order, closed;
    int64_t vocab;
    int64_t probe[NGK_SCORE_MAX_ORDER][2]; /* (start, bytes) of probe1 .. probeN */
    int64_t words[2], offsets[2], index[2];
} ngk_query;
int ngk_query_header(ngk_read_fn rd, void *ctx, int64_t size, ngk_query *q);

/* CRC-32 (zlib's polynomial) of p[0 .. n). */
uint32_t ngk_crc32(const uint8_t *p, int64_t n);

/* A canonical .npy 1.0 header at the start of p[0 .. len): "{'descr': 'D', 'fortran_order': False, 'shape':
 * (a, b), }" padded with spaces and a newline. Fills descr (at most 7 characters), ndim (<= 2), shape and
 * *data (offset of the data in p). Returns 0, or -1 for anything else (fortran order included). */
int ngk_npy_header(const uint8_t *p, int64_t len, char descr[8], int *ndim, int64_t shape[2], int64_t *data);

/* The pairwise sum of a[0 .. n) in numpy >= 2's order (numpy/_core/src/umath/loops_utils.h.src, PW_BLOCKSIZE 128),
 * plus 0.0; ngramkit.evaluate sums with it too. */
double ngk_pairwise_sum(const double *a, int64_t n);

/* 1 when s[0 .. n) is UTF-8 as Python's strict decoder accepts it (no surrogates, no overlong forms). */
int ngk_utf8_valid(const uint8_t *s, int64_t n);

/* The model's side of the fast path. */
typedef struct {
    const ngk_probe_index *ix;
    int suffix_closed;
    const char *blob;        /* vocabulary words, UTF-8, concatenated */
    const int64_t *offsets;  /* (V + 1,) word i is blob[offsets[i] .. offsets[i+1]) */
    const int32_t *table;    /* ngk_vocab_build's hash of them */
    int64_t slots;
    int32_t unk, bos, eos;
} ngk_fast_model;

/* What one block adds. */
typedef struct {
    int64_t tokens, sentences, oovs, zeroprobs;
    double sum10, sum10_iv; /* pairwise sums (valid when tokens > 0) */
} ngk_fast_totals;

#define NGK_FAST_DECLINE (-1) /* not UTF-8, or a NaN score: the normal path decides */
#define NGK_FAST_NOMEM (-2)

/* Score one block (whole lines); ln10 is Python's math.log(10.0). Returns 0 and fills *t, or NGK_FAST_DECLINE /
 * NGK_FAST_NOMEM. */
int ngk_fast_block(const ngk_fast_model *m, const uint8_t *data, int64_t n, double ln10, ngk_fast_totals *t);

#endif
