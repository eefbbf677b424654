/* Python binding of the backoff scoring kernel (score.c): argument checks, buffer protocol
 * (C-contiguous 1-D buffers, no numpy headers), GIL released around the loop. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "score.h"

/* probe_build borrows 4 buffers per order (keys, logp10, backoff10, table); the others fewer. */
#define PYBUF_MAX (4 * NGK_SCORE_MAX_ORDER + 4)
#include "pybuf.h"

/* Borrow a C-contiguous 1-D buffer of `itemsize` bytes per element whose format is one of `formats` into b
 * (NULL: exception set). */
static Py_buffer *get_buf(Bufs *b, PyObject *obj, Py_ssize_t itemsize, const char *formats, int writable,
                          const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    Py_buffer *view = pybuf_borrow(b, obj, flags, "%s: expected a C-contiguous%s buffer", name,
                                   writable ? " writable" : "");
    if (!view) return NULL;
    if (view->itemsize != itemsize || !strchr(formats, pybuf_format(view)) || view->ndim > 1) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D buffer of %zd-byte items ('%s'), got format '%s'", name,
                     itemsize, formats, pybuf_format_str(view));
        return NULL;
    }
    return view;
}

#define INT32 "il"
#define INT64 "lq"
#define F64 "d"

PyDoc_STRVAR(hash_build_doc,
"hash_build(keys, table) -> None\n\n"
"Fill table (int64, 2 * slots entries, slots a power of two > len(keys)) with an\n"
"open-addressing hash of the distinct non-negative int64 keys and their rows.");

static PyObject *py_hash_build(PyObject *self, PyObject *args) {
    PyObject *o_keys, *o_table;
    if (!PyArg_ParseTuple(args, "OO:hash_build", &o_keys, &o_table)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *keys, *table;
    if (!(keys = get_buf(&bf, o_keys, 8, INT64, 0, "keys")) || !(table = get_buf(&bf, o_table, 8, INT64, 1, "table"))) {
        release(&bf);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_hash_build((const int64_t *)keys->buf, keys->len / 8, (int64_t *)table->buf, table->len / 16);
    Py_END_ALLOW_THREADS
    release(&bf);
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

PyDoc_STRVAR(probe_build_doc,
"probe_build(keys, logp10, backoff10, vocab, tables, check_suffixes) -> closed\n\n"
"Fill the scorer's probing index (score.h). keys/logp10/backoff10: tuples of N\n"
"int64/float64/float64 buffers (sorted row keys parent_row * V + last; order 1:\n"
"word ids); tables: tuple of N int64 buffers, 3 * V entries for order 1, then\n"
"stride * n_slots (stride 3, 2 for order N; n_slots > M_k). Returns True/False\n"
"(every n-gram's suffix is in the model) when check_suffixes, else None.");

/* The N index tables: checks their sizes, fills ix->table / ix->n_slots. */
static int get_index(PyObject *t_tab, Py_ssize_t n, long long vocab, int writable, Bufs *bf, ngk_probe_index *ix,
                     const char *fn) {
    memset(ix, 0, sizeof *ix);
    ix->order = (int)n;
    ix->vocab = vocab;
    if (!PyTuple_Check(t_tab) || PyTuple_GET_SIZE(t_tab) != n) {
        PyErr_Format(PyExc_ValueError, "%s: tables must be a tuple of one buffer per order", fn);
        return -1;
    }
    for (Py_ssize_t k = 1; k <= n; k++) {
        Py_buffer *tb = get_buf(bf, PyTuple_GET_ITEM(t_tab, k - 1), 8, INT64, writable, "tables");
        if (!tb) return -1;
        int64_t words = tb->len / 8, stride = NGK_PROBE_STRIDE(k, n);
        if (words % stride != 0 || words == 0 || (k == 1 && words != 3 * vocab)) {
            PyErr_Format(PyExc_ValueError,
                         "%s: tables[%zd] must hold %lld-word slots (order 1: exactly vocab of them)", fn, k - 1,
                         (long long)stride);
            return -1;
        }
        ix->table[k - 1] = (int64_t *)tb->buf;
        ix->n_slots[k - 1] = words / stride;
    }
    return 0;
}

static PyObject *py_probe_build(PyObject *self, PyObject *args) {
    PyObject *t_keys, *t_logp, *t_bo, *t_tab;
    long long vocab;
    int check = 0;
    if (!PyArg_ParseTuple(args, "O!O!O!LO!p:probe_build", &PyTuple_Type, &t_keys, &PyTuple_Type, &t_logp,
                          &PyTuple_Type, &t_bo, &vocab, &PyTuple_Type, &t_tab, &check))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(t_keys);
    if (n < 1 || n > NGK_SCORE_MAX_ORDER || PyTuple_GET_SIZE(t_logp) != n || PyTuple_GET_SIZE(t_bo) != n ||
        vocab < 1) {
        PyErr_Format(PyExc_ValueError, "probe_build: need 1..%d orders, matching tuples and vocab >= 1",
                     NGK_SCORE_MAX_ORDER);
        return NULL;
    }
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    const int64_t *keys[NGK_SCORE_MAX_ORDER];
    const double *logp[NGK_SCORE_MAX_ORDER], *bo[NGK_SCORE_MAX_ORDER];
    int64_t n_rows[NGK_SCORE_MAX_ORDER];
    ngk_probe_index ix;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_buffer *kb, *pb, *bb;
        if (!(kb = get_buf(&bf, PyTuple_GET_ITEM(t_keys, k), 8, INT64, 0, "keys")) ||
            !(pb = get_buf(&bf, PyTuple_GET_ITEM(t_logp, k), 8, F64, 0, "logp10")) ||
            !(bb = get_buf(&bf, PyTuple_GET_ITEM(t_bo, k), 8, F64, 0, "backoff10")))
            goto done;
        n_rows[k] = kb->len / 8;
        if (pb->len != kb->len || bb->len != kb->len) {
            PyErr_SetString(PyExc_ValueError, "probe_build: keys, logp10 and backoff10 lengths differ");
            goto done;
        }
        keys[k] = (const int64_t *)kb->buf;
        logp[k] = (const double *)pb->buf;
        bo[k] = (const double *)bb->buf;
    }
    if (get_index(t_tab, n, vocab, 1, &bf, &ix, "probe_build")) goto done;
    int rc, closed = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_probe_build(&ix, keys, n_rows, logp, bo, check, &closed);
    Py_END_ALLOW_THREADS
    if (rc == -1) {
        PyErr_SetString(PyExc_ValueError, "probe_build: tables[k] needs more slots than keys[k] has rows "
                                          "(or a word id is outside 0..vocab-1)");
    } else if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "probe_build: keys must be distinct, >= 0, with parent rows that exist");
    } else if (rc == -3) {
        PyErr_NoMemory();
    } else if (check) {
        result = PyBool_FromLong(closed);
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(probe_score_doc,
"probe_score(padded, offsets, tables, vocab, out, suffix_closed=False) -> n\n\n"
"Score a padded stream with a backoff model's probing index (score.h): padded:\n"
"int32 (P,), each sentence <s> w1 .. </s>; offsets: int64 (S+1,), strictly\n"
"increasing from 0 to P; tables from probe_build; out: float64 (P-S,) receives\n"
"log10 probabilities. suffix_closed: every n-gram's suffix is in the model, so\n"
"the search stops at the first absent order. Returns P-S.");

static PyObject *py_probe_score(PyObject *self, PyObject *args) {
    PyObject *o_pad, *o_off, *t_tab, *o_out;
    long long vocab;
    int suffix_closed = 0;
    if (!PyArg_ParseTuple(args, "OOO!LO|p:probe_score", &o_pad, &o_off, &PyTuple_Type, &t_tab, &vocab, &o_out,
                          &suffix_closed))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(t_tab);
    if (n < 1 || n > NGK_SCORE_MAX_ORDER || vocab < 1) {
        PyErr_Format(PyExc_ValueError, "probe_score: need 1..%d orders and vocab >= 1", NGK_SCORE_MAX_ORDER);
        return NULL;
    }
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    ngk_probe_index ix;
    Py_buffer *pad, *off, *out;
    if (!(pad = get_buf(&bf, o_pad, 4, INT32, 0, "padded")) || !(off = get_buf(&bf, o_off, 8, INT64, 0, "offsets")) ||
        !(out = get_buf(&bf, o_out, 8, F64, 1, "out")))
        goto done;
    if (get_index(t_tab, n, vocab, 0, &bf, &ix, "probe_score")) goto done;
    int64_t n_sent = off->len / 8 - 1;
    int64_t n_pad = pad->len / 4;
    const int64_t *offsets = (const int64_t *)off->buf;
    int ok = n_sent >= 0 && offsets[0] == 0 && offsets[n_sent] == n_pad;
    for (int64_t i = 0; ok && i < n_sent; i++) ok = offsets[i] < offsets[i + 1];
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "probe_score: offsets must rise strictly from 0 to len(padded) "
                                          "(every sentence starts with <s>)");
        goto done;
    }
    if (out->len / 8 != n_pad - n_sent) {
        PyErr_SetString(PyExc_ValueError, "probe_score: out must have len(padded) - n_sentences entries");
        goto done;
    }
    int64_t written;
    Py_BEGIN_ALLOW_THREADS
    written = ngk_probe_score(&ix, (const int32_t *)pad->buf, offsets, n_sent, suffix_closed, (double *)out->buf);
    Py_END_ALLOW_THREADS
    if (written < 0) {
        PyErr_SetString(PyExc_IndexError, "probe_score: word id outside 0..vocab-1");
        goto done;
    }
    result = PyLong_FromLongLong(written);
done:
    release(&bf);
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
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    ngk_backoff_model m;
    memset(&m, 0, sizeof m);
    m.order = (int)n;
    m.vocab = vocab;
    Py_buffer *pad, *off, *uni, *rows;
    if (!(pad = get_buf(&bf, o_pad, 4, INT32, 0, "padded")) || !(off = get_buf(&bf, o_off, 8, INT64, 0, "offsets")) ||
        !(uni = get_buf(&bf, o_uni, 4, INT32, 0, "uni_row")) || !(rows = get_buf(&bf, o_rows, 8, INT64, 1, "rows")))
        goto done;
    if (uni->len / 4 != vocab) {
        PyErr_SetString(PyExc_ValueError, "stream_rows: uni_row must have vocab entries");
        goto done;
    }
    m.uni_row = (const int32_t *)uni->buf;
    for (Py_ssize_t k = 1; k < n; k++) {
        Py_buffer *cb = get_buf(&bf, PyTuple_GET_ITEM(t_tab, k - 1), 8, INT64, 0, "tables");
        if (!cb) goto done;
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
    release(&bf);
    return result;
}

PyDoc_STRVAR(hash_find_doc,
"hash_find(table, queries, out) -> None\n\n"
"out[i] (int64) = row of queries[i] (int64) in a hash_build table, -1 if absent or negative.");

static PyObject *py_hash_find(PyObject *self, PyObject *args) {
    PyObject *o_table, *o_q, *o_out;
    if (!PyArg_ParseTuple(args, "OOO:hash_find", &o_table, &o_q, &o_out)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *table, *q, *out;
    if (!(table = get_buf(&bf, o_table, 8, INT64, 0, "table")) || !(q = get_buf(&bf, o_q, 8, INT64, 0, "queries")) ||
        !(out = get_buf(&bf, o_out, 8, INT64, 1, "out"))) {
        release(&bf);
        return NULL;
    }
    int64_t slots = table->len / 16;
    PyObject *result = NULL;
    if (slots < 1 || (slots & (slots - 1)) != 0 || table->len != slots * 16) {
        PyErr_SetString(PyExc_ValueError, "hash_find: table must come from hash_build");
    } else if (out->len != q->len) {
        PyErr_SetString(PyExc_ValueError, "hash_find: out must have as many entries as queries");
    } else {
        Py_BEGIN_ALLOW_THREADS
        ngk_hash_find((const int64_t *)table->buf, slots, (const int64_t *)q->buf, q->len / 8, (int64_t *)out->buf);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    release(&bf);
    return result;
}

static PyMethodDef methods[] = {
    {"probe_build", py_probe_build, METH_VARARGS, probe_build_doc},
    {"probe_score", py_probe_score, METH_VARARGS, probe_score_doc},
    {"hash_build", py_hash_build, METH_VARARGS, hash_build_doc},
    {"stream_rows", py_stream_rows, METH_VARARGS, stream_rows_doc},
    {"hash_find", py_hash_find, METH_VARARGS, hash_find_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_score", "Backoff n-gram scoring kernel.", -1, methods};

PyMODINIT_FUNC PyInit__score(void) { return PyModule_Create(&module); }
