/* K-way merge of sorted n-gram runs on disk (out-of-core counting, ngramkit.outofcore.runs).
 *
 * A run file of order k holds M records, each k int32 word ids then one count, packed (4k + 4 bytes with an
 * int32 count, count_bytes[i] == 4: the runs of one block of text; else 4k + 8 with an int64 count; native
 * byte order), rows strictly increasing in lexicographic id order. count_bytes NULL: every run 8. ngk_merge_runs reads R such files
 * with one buffered reader each, keeps the readers in a binary heap keyed by their current row, sums the
 * counts of equal rows and writes each distinct row once, either
 *   - as one run file again (int64 counts; out_record: an intermediate pass when there are too many runs to open at once), or
 *   - as the final arrays: ids (M, k) int32 to out_grams, counts (M,) int64 to out_counts, and parents (M,)
 *     int64 to out_parents: the row of each n-gram's (k-1)-word prefix in the final ids of order k-1
 *     (prev_grams, read alongside: prefixes of sorted rows are non-decreasing, so one forward pointer). Each
 *     final file gets `header` bytes reserved at its start (a .npy header, written afterwards by the caller);
 *     prev_grams starts after `header` bytes too. Order 1 (k = 1) writes zeros as parents.
 * Memory: one buffer of `bufsize` bytes per reader and per writer, whatever the sizes of the runs. */
#ifndef NGRAMKIT_MERGE_H
#define NGRAMKIT_MERGE_H

#include <stdint.h>

#define NGK_MERGE_ERR_IO (-1)      /* errno holds the cause; *bad_file the index of the file (see below) */
#define NGK_MERGE_ERR_NOMEM (-2)
#define NGK_MERGE_ERR_FORMAT (-3)  /* a run's size is not whole records, rows out of order, or a prefix missing */
#define NGK_MERGE_ERR_STOP (-4)    /* the check callback asked to stop (a signal arrived) */

/* Files by index for *bad_file: 0..R-1 the runs, R out_record or out_grams, R+1 out_counts, R+2 out_parents,
 * R+3 prev_grams. */
typedef int (*ngk_check_fn)(void *ctx); /* called every few million rows; nonzero stops the merge */

int64_t ngk_merge_runs(const char *const *runs, const int *count_bytes, int n_runs, int k, int64_t bufsize,
                       const char *out_record, const char *out_grams, const char *out_counts,
                       const char *out_parents, const char *prev_grams, int64_t header, ngk_check_fn check,
                       void *ctx, int *bad_file);

/* Rows of nq queries in n sorted keys: out[i] = base + j for the first j with keys[j] == q[i], else -1. The queries are
 * radix-sorted (with their positions) and answered by one forward gallop through the keys: O(nq + n/nq log) and
 * sequential, where a binary search per query costs ~22 mispredicted branches in 4M keys. `scratch` holds
 * ngk_lookup_scratch_bytes(nq) bytes (the caller reuses it from call to call); nq < 2^32. hits (n entries) or
 * NULL: hits[j] += 1 for every query found at j. */
int64_t ngk_lookup_scratch_bytes(int64_t nq);
void ngk_lookup_sorted(const int64_t *keys, int64_t n, const int64_t *q, int64_t nq, int64_t base, int64_t *out,
                       void *scratch, int64_t *hits);

#endif
