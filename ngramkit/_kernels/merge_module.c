/* Python binding of the run merge (merge.c): paths in, rows out; GIL released around the merge, taken back
 * every few million rows to let Python's signal handlers run (Ctrl-C / SIGTERM stop a long merge). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>

#include "merge.h"

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
"merge_runs(runs, k, bufsize, out_record, out_grams, out_counts, out_parents, prev_grams, header) -> rows\n\n"
"Merge sorted run files of order k (records of k int32 ids + one int64 count) into one run file\n"
"(out_record; the other outputs None) or into the final arrays out_grams (M, k) int32, out_counts and\n"
"out_parents (M,) int64, each after `header` reserved bytes; parents are rows in prev_grams (the final ids\n"
"of order k-1, after `header` bytes; None for k = 1). Equal rows are summed. Returns M, the distinct rows.\n"
"Raises OSError (with the file's name) on I/O errors, ValueError on malformed runs.");

static PyObject *py_merge_runs(PyObject *self, PyObject *args) {
    PyObject *o_runs, *o_rec, *o_g, *o_c, *o_p, *o_prev;
    int k;
    long long bufsize, header;
    if (!PyArg_ParseTuple(args, "OiLOOOOOL:merge_runs", &o_runs, &k, &bufsize, &o_rec, &o_g, &o_c, &o_p, &o_prev,
                          &header))
        return NULL;
    if (k < 1 || k > 64) return PyErr_Format(PyExc_ValueError, "k must be in 1..64, got %d", k);
    if (bufsize < 1 || header < 0) return PyErr_Format(PyExc_ValueError, "bufsize must be >= 1 and header >= 0");
    PyObject *seq = PySequence_Fast(o_runs, "runs must be a sequence of paths");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **keep = calloc((size_t)n + 5, sizeof(PyObject *));
    const char **paths = calloc((size_t)n + 1, sizeof(char *));
    PyObject *result = NULL;
    const char *out[5] = {NULL, NULL, NULL, NULL, NULL};
    if (!keep || !paths) { PyErr_NoMemory(); goto done; }
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
    rows = ngk_merge_runs(paths, (int)n, k, bufsize, out[0], out[1], out[2], out[3], out[4], header,
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
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"merge_runs", py_merge_runs, METH_VARARGS, merge_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_merge", "C k-way merge of sorted n-gram runs on disk (out-of-core counting).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__merge(void) { return PyModule_Create(&module); }
