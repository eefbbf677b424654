/* Python binding of the backoff scoring kernel (score.c): argument checks, buffer protocol
 * (C-contiguous 1-D buffers, no numpy headers), GIL released around the loop. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "score.h"

/* A C-contiguous 1-D buffer of `itemsize` bytes per element whose format is one of `formats`. */
static int get_buf(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *formats, int writable,
                   const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous%s buffer", name, writable ? " writable" : "");
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->itemsize != itemsize || strlen(f) != 1 || !strchr(formats, *f) || view->ndim > 1) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D buffer of %zd-byte items ('%s'), got format '%s'", name,
                     itemsize, formats, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define INT32 "il"
#define INT64 "lq"
#define F64 "d"

PyDoc_STRVAR(backoff_score_doc,
"backoff_score(padded, offsets, uni_row, keys, logp10, backoff10, tables, vocab, out,\n"
"              suffix_closed=False) -> n\n\n"
"Score a padded stream with a backoff model (see score.h). padded: int32 (P,);\n"
"offsets: int64 (S+1,); uni_row: int32 (V,); keys/logp10/backoff10: tuples of N\n"
"int64/float64/float64 buffers; tables: tuple of N-1 int64 hash tables (orders\n"
"2..N) from hash_build; out: float64 (P-S,) receives log10 probabilities.\n"
"suffix_closed: the caller guarantees every n-gram's suffix is present, so the\n"
"search stops at the first absent order. Returns P-S.");

PyDoc_STRVAR(hash_build_doc,
"hash_build(keys, table) -> None\n\n"
"Fill table (int64, 2 * slots entries, slots a power of two > len(keys)) with an\n"
"open-addressing hash of the distinct non-negative int64 keys and their rows.");

static PyObject *py_hash_build(PyObject *self, PyObject *args) {
    PyObject *o_keys, *o_table;
    if (!PyArg_ParseTuple(args, "OO:hash_build", &o_keys, &o_table)) return NULL;
    Py_buffer keys, table;
    if (get_buf(o_keys, &keys, 8, INT64, 0, "keys")) return NULL;
    if (get_buf(o_table, &table, 8, INT64, 1, "table")) {
        PyBuffer_Release(&keys);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_hash_build((const int64_t *)keys.buf, keys.len / 8, (int64_t *)table.buf, table.len / 16);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&keys);
    PyBuffer_Release(&table);
    if (rc == -1) {
        PyErr_SetString(PyExc_ValueError, "hash_build: table must hold 2 * slots entries, slots a power of two > len(keys)");
        return NULL;
    }
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "hash_build: keys must be distinct and >= 0");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_backoff_score(PyObject *self, PyObject *args) {
    PyObject *o_pad, *o_off, *o_uni, *t_keys, *t_logp, *t_bo, *t_child, *o_out;  /* t_child: hash tables */
    long long vocab;
    int suffix_closed = 0;
    if (!PyArg_ParseTuple(args, "OOOO!O!O!O!LO|p:backoff_score", &o_pad, &o_off, &o_uni, &PyTuple_Type, &t_keys,
                          &PyTuple_Type, &t_logp, &PyTuple_Type, &t_bo, &PyTuple_Type, &t_child, &vocab, &o_out,
                          &suffix_closed))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(t_keys);
    if (n < 1 || n > NGK_SCORE_MAX_ORDER || PyTuple_GET_SIZE(t_logp) != n || PyTuple_GET_SIZE(t_bo) != n ||
        PyTuple_GET_SIZE(t_child) != n - 1) {
        PyErr_Format(PyExc_ValueError, "backoff_score: need 1..%d orders and matching tuples", NGK_SCORE_MAX_ORDER);
        return NULL;
    }
    Py_buffer views[4 * NGK_SCORE_MAX_ORDER + 4];
    int nv = 0;
    PyObject *result = NULL;
    ngk_backoff_model m;
    memset(&m, 0, sizeof m);
    m.order = (int)n;
    m.vocab = vocab;
    m.suffix_closed = suffix_closed;
    int64_t n_rows[NGK_SCORE_MAX_ORDER];
    m.n_rows = n_rows;
    Py_buffer *pad = &views[nv], *off, *uni, *out;
    if (get_buf(o_pad, pad, 4, INT32, 0, "padded")) goto done;
    nv++;
    off = &views[nv];
    if (get_buf(o_off, off, 8, INT64, 0, "offsets")) goto done;
    nv++;
    uni = &views[nv];
    if (get_buf(o_uni, uni, 4, INT32, 0, "uni_row")) goto done;
    nv++;
    out = &views[nv];
    if (get_buf(o_out, out, 8, F64, 1, "out")) goto done;
    nv++;
    if (uni->len / 4 != vocab) {
        PyErr_SetString(PyExc_ValueError, "backoff_score: uni_row must have vocab entries");
        goto done;
    }
    m.uni_row = (const int32_t *)uni->buf;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_buffer *kb = &views[nv];
        if (get_buf(PyTuple_GET_ITEM(t_keys, k), kb, 8, INT64, 0, "keys")) goto done;
        nv++;
        Py_buffer *pb = &views[nv];
        if (get_buf(PyTuple_GET_ITEM(t_logp, k), pb, 8, F64, 0, "logp10")) goto done;
        nv++;
        Py_buffer *bb = &views[nv];
        if (get_buf(PyTuple_GET_ITEM(t_bo, k), bb, 8, F64, 0, "backoff10")) goto done;
        nv++;
        n_rows[k] = kb->len / 8;
        if (pb->len / 8 != n_rows[k] || bb->len / 8 != n_rows[k]) {
            PyErr_SetString(PyExc_ValueError, "backoff_score: keys, logp10 and backoff10 lengths differ");
            goto done;
        }
        m.keys[k] = (const int64_t *)kb->buf;
        m.logp10[k] = (const double *)pb->buf;
        m.backoff10[k] = (const double *)bb->buf;
    }
    for (Py_ssize_t k = 1; k < n; k++) {
        Py_buffer *cb = &views[nv];
        if (get_buf(PyTuple_GET_ITEM(t_child, k - 1), cb, 8, INT64, 0, "tables")) goto done;
        nv++;
        int64_t slots = cb->len / 16;
        if (slots <= n_rows[k] || (slots & (slots - 1)) != 0 || cb->len != slots * 16) {
            PyErr_SetString(PyExc_ValueError, "backoff_score: tables[k] must come from hash_build over keys[k+1]");
            goto done;
        }
        m.table[k] = (const int64_t *)cb->buf;
        m.slots[k] = slots;
    }
    int64_t n_sent = off->len / 8 - 1;
    int64_t n_pad = pad->len / 4;
    if (n_sent < 0 || ((const int64_t *)off->buf)[n_sent] != n_pad || ((const int64_t *)off->buf)[0] != 0) {
        PyErr_SetString(PyExc_ValueError, "backoff_score: offsets must run from 0 to len(padded)");
        goto done;
    }
    if (out->len / 8 != n_pad - n_sent) {
        PyErr_SetString(PyExc_ValueError, "backoff_score: out must have len(padded) - n_sentences entries");
        goto done;
    }
    int64_t written;
    Py_BEGIN_ALLOW_THREADS
    written = ngk_backoff_score(&m, (const int32_t *)pad->buf, (const int64_t *)off->buf, n_sent,
                                (double *)out->buf);
    Py_END_ALLOW_THREADS
    if (written < 0) {
        PyErr_SetString(PyExc_IndexError, "backoff_score: word id outside 0..vocab-1");
        goto done;
    }
    result = PyLong_FromLongLong(written);
done:
    for (int i = 0; i < nv; i++) PyBuffer_Release(&views[i]);
    return result;
}

PyDoc_STRVAR(stream_rows_doc,
"stream_rows(padded, offsets, uni_row, tables, vocab, rows) -> None\n\n"
"rows (int64, N * P entries) receives, for every order k and padded position t,\n"
"the row of the k-gram ending at t (-1 if absent); tables as for backoff_score.");

static PyObject *py_stream_rows(PyObject *self, PyObject *args) {
    PyObject *o_pad, *o_off, *o_uni, *t_tab, *o_rows;
    long long vocab;
    if (!PyArg_ParseTuple(args, "OOOO!LO:stream_rows", &o_pad, &o_off, &o_uni, &PyTuple_Type, &t_tab, &vocab,
                          &o_rows))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(t_tab) + 1;
    if (n > NGK_SCORE_MAX_ORDER) {
        PyErr_Format(PyExc_ValueError, "stream_rows: at most %d orders", NGK_SCORE_MAX_ORDER);
        return NULL;
    }
    Py_buffer views[NGK_SCORE_MAX_ORDER + 4];
    int nv = 0;
    PyObject *result = NULL;
    ngk_backoff_model m;
    memset(&m, 0, sizeof m);
    m.order = (int)n;
    m.vocab = vocab;
    Py_buffer *pad = &views[nv];
    if (get_buf(o_pad, pad, 4, INT32, 0, "padded")) goto done;
    nv++;
    Py_buffer *off = &views[nv];
    if (get_buf(o_off, off, 8, INT64, 0, "offsets")) goto done;
    nv++;
    Py_buffer *uni = &views[nv];
    if (get_buf(o_uni, uni, 4, INT32, 0, "uni_row")) goto done;
    nv++;
    Py_buffer *rows = &views[nv];
    if (get_buf(o_rows, rows, 8, INT64, 1, "rows")) goto done;
    nv++;
    if (uni->len / 4 != vocab) {
        PyErr_SetString(PyExc_ValueError, "stream_rows: uni_row must have vocab entries");
        goto done;
    }
    m.uni_row = (const int32_t *)uni->buf;
    for (Py_ssize_t k = 1; k < n; k++) {
        Py_buffer *cb = &views[nv];
        if (get_buf(PyTuple_GET_ITEM(t_tab, k - 1), cb, 8, INT64, 0, "tables")) goto done;
        nv++;
        int64_t slots = cb->len / 16;
        if (slots < 1 || (slots & (slots - 1)) != 0 || cb->len != slots * 16) {
            PyErr_SetString(PyExc_ValueError, "stream_rows: tables must come from hash_build");
            goto done;
        }
        m.table[k] = (const int64_t *)cb->buf;
        m.slots[k] = slots;
    }
    int64_t n_sent = off->len / 8 - 1;
    int64_t n_pad = pad->len / 4;
    if (n_sent < 0 || ((const int64_t *)off->buf)[n_sent] != n_pad || ((const int64_t *)off->buf)[0] != 0) {
        PyErr_SetString(PyExc_ValueError, "stream_rows: offsets must run from 0 to len(padded)");
        goto done;
    }
    if (rows->len / 8 != n * n_pad) {
        PyErr_SetString(PyExc_ValueError, "stream_rows: rows must have order * len(padded) entries");
        goto done;
    }
    int64_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_stream_rows(&m, (const int32_t *)pad->buf, (const int64_t *)off->buf, n_sent, (int64_t *)rows->buf);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_SetString(PyExc_IndexError, "stream_rows: word id outside 0..vocab-1");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < nv; i++) PyBuffer_Release(&views[i]);
    return result;
}

PyDoc_STRVAR(hash_find_doc,
"hash_find(table, queries, out) -> None\n\n"
"out[i] (int64) = row of queries[i] (int64) in a hash_build table, -1 if absent or negative.");

static PyObject *py_hash_find(PyObject *self, PyObject *args) {
    PyObject *o_table, *o_q, *o_out;
    if (!PyArg_ParseTuple(args, "OOO:hash_find", &o_table, &o_q, &o_out)) return NULL;
    Py_buffer table, q, out;
    if (get_buf(o_table, &table, 8, INT64, 0, "table")) return NULL;
    if (get_buf(o_q, &q, 8, INT64, 0, "queries")) {
        PyBuffer_Release(&table);
        return NULL;
    }
    if (get_buf(o_out, &out, 8, INT64, 1, "out")) {
        PyBuffer_Release(&table);
        PyBuffer_Release(&q);
        return NULL;
    }
    int64_t slots = table.len / 16;
    PyObject *result = NULL;
    if (slots < 1 || (slots & (slots - 1)) != 0 || table.len != slots * 16) {
        PyErr_SetString(PyExc_ValueError, "hash_find: table must come from hash_build");
    } else if (out.len != q.len) {
        PyErr_SetString(PyExc_ValueError, "hash_find: out must have as many entries as queries");
    } else {
        Py_BEGIN_ALLOW_THREADS
        ngk_hash_find((const int64_t *)table.buf, slots, (const int64_t *)q.buf, q.len / 8, (int64_t *)out.buf);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&table);
    PyBuffer_Release(&q);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"backoff_score", py_backoff_score, METH_VARARGS, backoff_score_doc},
    {"hash_build", py_hash_build, METH_VARARGS, hash_build_doc},
    {"stream_rows", py_stream_rows, METH_VARARGS, stream_rows_doc},
    {"hash_find", py_hash_find, METH_VARARGS, hash_find_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_score", "Backoff n-gram scoring kernel.", -1, methods};

PyMODINIT_FUNC PyInit__score(void) { return PyModule_Create(&module); }
