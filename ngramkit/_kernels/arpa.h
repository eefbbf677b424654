/* ARPA text in C: the reader's fast path and the writer's line formatter (arpa.c).
 *
 * Reading. The reader accepts exactly the files ngramkit.arpa's Python parser accepts with a regular layout and
 * returns 1 ("not for the fast path") on anything else, without saying why: the caller then runs the Python
 * parser, which either reads the file (an unusual but valid layout: CR LF line ends, Unicode spaces, numbers of
 * over 500 characters, ...) or raises its one-line error naming the file, the line and what was expected. So the
 * errors are the Python parser's by construction, and the fast path only has to never accept what it refuses.
 *
 *   1. ngk_arpa_precheck: the whole text is strict UTF-8 (as Python decodes it) with no NUL, no CR and no
 *      separator other than space, tab and LF (no VT, FF, FS..US, U+0085, U+00A0, U+1680, U+2000..U+200A,
 *      U+2028, U+2029, U+202F, U+205F, U+3000: Python's str.split() would split on them).
 *   2. ngk_arpa_header: the `\data\` block: order and counts (the `ngram K=COUNT` lines in sequence).
 *   3. ngk_arpa_parse: the sections, for every line the probability, the backoff (0 when absent), the words as
 *      vocabulary ids (the given specials first, then the other unigrams in file order), and for k >= 2 the file row of the (k-1)-gram prefix in section k-1 (found
 *      in a hash of that section's rows). A word that is not a unigram, a missing prefix, a duplicate unigram or
 *      (k-1)-gram, a count that does not match, a number that is not an ASCII decimal, a non-finite value or a
 *      positive probability: 1. Duplicates of the top order are left to the caller (adjacent after sorting).
 *
 * Numbers: Python's float() of the token, bit for bit: up to 15 significant digits and a decimal exponent of at
 * most 22 in magnitude take one exact multiplication or division (correctly rounded, Clinger's fast path); the
 * others go through strtod (correctly rounded in glibc).
 *
 * Writing. ngk_arpa_format: the lines of one chunk of an order's n-grams, byte for byte what the numpy writer
 * (ngramkit.arpa._float_text and its segments) produces. */
#ifndef NGRAMKIT_ARPA_H
#define NGRAMKIT_ARPA_H

#include <stddef.h>
#include <stdint.h>

#define NGK_ARPA_MAX_ORDER 32

typedef struct {
    int order;
    int64_t count[NGK_ARPA_MAX_ORDER];
    size_t pos; /* byte offset just after the \data\ block */
} ngk_arpa_head;

typedef struct {
    double *prob[NGK_ARPA_MAX_ORDER];   /* (M_k,) */
    double *back[NGK_ARPA_MAX_ORDER];   /* (M_k,), 0 where the line has no backoff */
    int32_t *ids[NGK_ARPA_MAX_ORDER];   /* (M_k, k) vocabulary ids */
    int32_t *parent[NGK_ARPA_MAX_ORDER]; /* (M_k,) for k >= 2: row of the prefix in section k-1; NULL for k = 1 */
    int64_t *word; /* (M_1, 2): byte offset and length of each unigram's word */
    int32_t *vocab_id; /* (M_1,) the vocabulary id of each unigram (filled by the parser) */
    int n_specials;    /* the vocabulary's first words (ids 0..n_specials-1), the other unigrams follow in order */
    const uint8_t *special[8];
    int64_t special_len[8];
} ngk_arpa_out;

extern int ngk_arpa_bail_line;

int ngk_arpa_precheck(const uint8_t *s, size_t n);
int ngk_arpa_header(const uint8_t *s, size_t n, ngk_arpa_head *h);
/* 0: parsed; 1: not for the fast path; -1: out of memory. */
int ngk_arpa_parse(const uint8_t *s, size_t n, const ngk_arpa_head *h, ngk_arpa_out *o);

/* ngk_arpa_format: lines "prob<TAB>w1 .. wk[<TAB>backoff]\n" into out (capacity cap); returns the bytes written
 * or -1 when cap is too small, -2 when a word id is out of range, -3 when a value is >= 1000.
 * prob/back: m values (back NULL: no backoff column; a non-finite value or one below -99 is written -99),
 * ids: m * k int32 vocabulary ids (row-major), words/wstart/wlen: the vocabulary's UTF-8 bytes; bos: the id
 * whose unigram probability is written -99 (pass -1 to write every value as given). */
int64_t ngk_arpa_format(const double *prob, const double *back, const int32_t *ids, int64_t m, int k,
                        const uint8_t *words, const int64_t *wstart, const int64_t *wlen, int64_t v, int32_t bos,
                        uint8_t *out, int64_t cap);

#endif
