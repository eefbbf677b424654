/* Python binding of the run merge (merge.c): paths in, rows out; GIL released around the merge, taken back
 * every few million rows to let Python's signal handlers run (Ctrl-C / SIGTERM stop a long merge). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>

#include "merge.h"
#include "pybuf.h"

typedef struct {
    PyThreadState *save;
} CheckCtx;

static int check_signals(void *p) {
    CheckCtx *c = (CheckCtx *)p;
    PyEval_RestoreThread(c->save);
    int stop = PyErr_CheckSignals() < 0; /* the handler's exception stays set */
    c->save = PyEval_SaveThread();
    return stop;
}

static const char *opt_path(PyObject *o, PyObject **keep) {
    if (o == Py_None) return NULL;
    if (!PyUnicode_FSConverter(o, keep)) return (const char *)-1;
    return PyBytes_AS_STRING(*keep);
}

PyDoc_STRVAR(merge_doc,
"merge_runs(runs, k, bufsize, out_record, out_grams, out_counts, out_parents, prev_grams, header[, widths])\n"
"-> rows\n\n"
"Merge sorted run files of order k (records of k int32 ids + one count: int64, or int32 where widths[i] is 4;\n"
"widths: the count bytes of each run, 4 or 8, default all 8) into one run file of int64 counts\n"
"(out_record; the other outputs None) or into the final arrays out_grams (M, k) int32, out_counts and\n"
"out_parents (M,) int64, each after `header` reserved bytes; parents are rows in prev_grams (the final ids\n"
"of order k-1, after `header` bytes; None for k = 1). Equal rows are summed. Returns M, the distinct rows.\n"
"Raises OSError (with the file's name) on I/O errors, ValueError on malformed runs.");

static PyObject *py_merge_runs(PyObject *self, PyObject *args) {
    PyObject *o_runs, *o_rec, *o_g, *o_c, *o_p, *o_prev, *o_widths = Py_None;
    int k;
    long long bufsize, header;
    if (!PyArg_ParseTuple(args, "OiLOOOOOL|O:merge_runs", &o_runs, &k, &bufsize, &o_rec, &o_g, &o_c, &o_p, &o_prev,
                          &header, &o_widths))
        return NULL;
    if (k < 1 || k > 64) return PyErr_Format(PyExc_ValueError, "k must be in 1..64, got %d", k);
    if (bufsize < 1 || header < 0) return PyErr_Format(PyExc_ValueError, "bufsize must be >= 1 and header >= 0");
    PyObject *seq = PySequence_Fast(o_runs, "runs must be a sequence of paths");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **keep = calloc((size_t)n + 5, sizeof(PyObject *));
    const char **paths = calloc((size_t)n + 1, sizeof(char *));
    int *widths = calloc((size_t)n + 1, sizeof(int));
    PyObject *result = NULL;
    const char *out[5] = {NULL, NULL, NULL, NULL, NULL};
    if (!keep || !paths || !widths) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) widths[i] = 8;
    if (o_widths != Py_None) {
        PyObject *ws = PySequence_Fast(o_widths, "widths must be a sequence of 4 or 8");
        if (!ws) goto done;
        int ok = PySequence_Fast_GET_SIZE(ws) == n;
        for (Py_ssize_t i = 0; ok && i < n; i++) {
            long w = PyLong_AsLong(PySequence_Fast_GET_ITEM(ws, i));
            ok = w == 4 || w == 8;
            widths[i] = (int)w;
        }
        Py_DECREF(ws);
        if (!ok) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "widths must hold 4 or 8 for each run");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &keep[i])) goto done;
        paths[i] = PyBytes_AS_STRING(keep[i]);
    }
    PyObject *outs[5] = {o_rec, o_g, o_c, o_p, o_prev};
    for (int j = 0; j < 5; j++) {
        out[j] = opt_path(outs[j], &keep[n + j]);
        if (out[j] == (const char *)-1) goto done;
    }
    if (!out[0] && (!out[1] || !out[2] || !out[3] || (k > 1 && !out[4]))) {
        PyErr_SetString(PyExc_ValueError, "give out_record, or out_grams, out_counts, out_parents (and prev_grams for k > 1)");
        goto done;
    }
    int bad = -1, saved_errno = 0;
    int64_t rows;
    CheckCtx ctx;
    ctx.save = PyEval_SaveThread();
    errno = 0;
    rows = ngk_merge_runs(paths, widths, (int)n, k, bufsize, out[0], out[1], out[2], out[3], out[4], header,
                          check_signals, &ctx, &bad);
    saved_errno = errno;
    PyEval_RestoreThread(ctx.save);
    if (rows >= 0) {
        result = PyLong_FromLongLong(rows);
        goto done;
    }
    if (rows == NGK_MERGE_ERR_STOP) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyboardInterrupt, "merge interrupted");
        goto done;
    }
    const char *name = bad < 0 ? "?" : bad < n ? paths[bad] : bad == n ? (out[0] ? out[0] : out[1])
                       : bad == n + 1 ? out[2] : bad == n + 2 ? out[3] : out[4];
    if (rows == NGK_MERGE_ERR_NOMEM) PyErr_NoMemory();
    else if (rows == NGK_MERGE_ERR_IO) {
        int e = saved_errno ? saved_errno : EIO;
        PyObject *exc = PyObject_CallFunction(PyExc_OSError, "iss", e, strerror(e), name);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    } else
        PyErr_Format(PyExc_ValueError, "%s: malformed run (partial record, rows out of order, or a missing prefix)",
                     name);
done:
    if (keep)
        for (Py_ssize_t i = 0; i < n + 5; i++) Py_XDECREF(keep[i]);
    free(keep);
    free(paths);
    free(widths);
    Py_DECREF(seq);
    return result;
}


static Py_buffer *int64_buf(Bufs *b, PyObject *o, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    Py_buffer *v = pybuf_borrow(b, o, flags, "lookup: %s must be a C-contiguous%s buffer", name,
                                writable ? " writable" : "");
    if (v && (v->itemsize != 8 || !strchr("lq", pybuf_format(v)) || v->ndim > 1)) {
        PyErr_Format(PyExc_TypeError, "lookup: %s must be a 1-D int64 buffer, got format '%s'", name,
                     pybuf_format_str(v));
        return NULL;
    }
    return v;
}

PyDoc_STRVAR(lookup_doc,
"lookup(keys, queries, base, out, scratch[, hits]) -> None\n\n"
"out[i] = base + j for the first j with keys[j] == queries[i], else -1 (keys: sorted int64; queries: int64 in\n"
"any order; out: int64 of len(queries)). scratch: a writable byte buffer of at least 24 * len(queries) bytes,\n"
"reused from call to call. hits: int64 of len(keys), hits[j] += 1 for each query found at j. The GIL is released.");

static PyObject *py_lookup(PyObject *self, PyObject *args) {
    PyObject *o_keys, *o_q, *o_out, *o_scratch, *o_hits = Py_None;
    long long base;
    if (!PyArg_ParseTuple(args, "OOLOO|O:lookup", &o_keys, &o_q, &base, &o_out, &o_scratch, &o_hits)) return NULL;
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    Py_buffer *keys = int64_buf(&bf, o_keys, 0, "keys");
    Py_buffer *q = keys ? int64_buf(&bf, o_q, 0, "queries") : NULL;
    Py_buffer *out = q ? int64_buf(&bf, o_out, 1, "out") : NULL;
    Py_buffer *scratch = out ? pybuf_borrow(&bf, o_scratch, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE,
                                            "lookup: scratch must be a C-contiguous writable buffer") : NULL;
    if (!scratch) goto done;
    Py_buffer *hits = NULL;
    if (o_hits != Py_None && !(hits = int64_buf(&bf, o_hits, 1, "hits"))) goto done;
    int64_t n = keys->len / 8, nq = q->len / 8;
    if (hits && hits->len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "lookup: hits must have len(keys) entries");
        goto done;
    }
    if (out->len / 8 != nq) {
        PyErr_SetString(PyExc_ValueError, "lookup: out must have len(queries) entries");
        goto done;
    }
    if (nq >= ((int64_t)1 << 32) || scratch->len < ngk_lookup_scratch_bytes(nq)) {
        PyErr_SetString(PyExc_ValueError, "lookup: queries must be fewer than 2**32 and scratch hold 24 bytes each");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    ngk_lookup_sorted((const int64_t *)keys->buf, n, (const int64_t *)q->buf, nq, (int64_t)base,
                      (int64_t *)out->buf, scratch->buf, hits ? (int64_t *)hits->buf : NULL);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release(&bf);
    return result;
}

static PyMethodDef methods[] = {
    {"merge_runs", py_merge_runs, METH_VARARGS, merge_doc},
    {"lookup", py_lookup, METH_VARARGS, lookup_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_merge", "C k-way merge of sorted n-gram runs on disk (out-of-core counting).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__merge(void) { return PyModule_Create(&module); }
