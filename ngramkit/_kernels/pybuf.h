/* Borrowed Python buffers for the kernel bindings: acquire each argument once, release them all in one place.
 *
 * A binding declares `Bufs bf = BUFS_INIT;`, borrows every array argument into it (with pybuf_borrow, or its
 * module's checked wrapper around it), jumps to one `done:` label on any error, and there calls release(&bf)
 * once: every buffer acquired so far is released, whatever failed. A buffer that fails a dtype/shape check after
 * it was acquired stays in `bf` and is released there too.
 *
 * Capacity: PYBUF_MAX buffers per call (16 unless the including file defines it first). */
#ifndef NGRAMKIT_PYBUF_H
#define NGRAMKIT_PYBUF_H

#include <Python.h>
#include <stdarg.h>
#include <string.h>

#ifndef PYBUF_MAX
#define PYBUF_MAX 16
#endif

typedef struct {
    Py_buffer v[PYBUF_MAX];
    int n;
} Bufs;

#define BUFS_INIT {.n = 0}

static inline void release(Bufs *b) {
    for (int i = 0; i < b->n; i++) PyBuffer_Release(&b->v[i]);
    b->n = 0;
}

/* Acquire o's buffer (flags as for PyObject_GetBuffer) into b. On failure returns NULL with an exception set:
 * the exporter's own, or, when fmt is not NULL, a TypeError with the message fmt, ... in its place. */
static inline Py_buffer *pybuf_borrow(Bufs *b, PyObject *o, int flags, const char *fmt, ...) {
    if (b->n >= PYBUF_MAX) {
        PyErr_SetString(PyExc_SystemError, "ngramkit kernel binding: more buffers than PYBUF_MAX");
        return NULL;
    }
    Py_buffer *v = &b->v[b->n];
    if (PyObject_GetBuffer(o, v, flags) < 0) {
        if (fmt) {
            PyErr_Clear();
            va_list ap;
            va_start(ap, fmt);
            PyErr_FormatV(PyExc_TypeError, fmt, ap);
            va_end(ap);
        }
        return NULL;
    }
    b->n++;
    return v;
}

/* The buffer's struct format as one character ('B' when it has none; byte-order prefix '<', '=', '@' skipped),
 * or '?' when it is not a single character. */
static inline char pybuf_format(const Py_buffer *v) {
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    return strlen(f) == 1 ? *f : '?';
}

/* The format string to print in error messages. */
static inline const char *pybuf_format_str(const Py_buffer *v) { return v->format ? v->format : "B"; }

/* The sentences of a padded id stream for a scoring kernel named `fn`: `off` (int64, n_sent + 1 entries)
 * must rise strictly from 0 to len(pad) (int32; every sentence starts with <s>) and `out` (float64) must
 * have len(pad) - n_sent entries. Returns n_sent, or -1 with ValueError set. */
static inline int64_t pybuf_sentences(const char *fn, const Py_buffer *off, const Py_buffer *pad, const Py_buffer *out) {
    int64_t n_sent = off->len / 8 - 1;
    int64_t n_pad = pad->len / 4;
    const int64_t *offsets = (const int64_t *)off->buf;
    int ok = n_sent >= 0 && offsets[0] == 0 && offsets[n_sent] == n_pad;
    for (int64_t i = 0; ok && i < n_sent; i++) ok = offsets[i] < offsets[i + 1];
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s: offsets must rise strictly from 0 to len(padded) "
                                       "(every sentence starts with <s>)", fn);
        return -1;
    }
    if (out->len / 8 != n_pad - n_sent) {
        PyErr_Format(PyExc_ValueError, "%s: out must have len(padded) - n_sentences entries", fn);
        return -1;
    }
    return n_sent;
}

#endif
