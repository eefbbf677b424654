/* Python binding of the ARPA kernels (arpa.c): buffer protocol (no numpy headers), GIL released around the loops. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "arpa.h"

#define PYBUF_MAX (4 * NGK_ARPA_MAX_ORDER + 8)
#include "pybuf.h"

static Py_buffer *get_buf(Bufs *b, PyObject *obj, Py_ssize_t itemsize, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    Py_buffer *view = pybuf_borrow(b, obj, flags, "%s: expected a C-contiguous%s buffer", name,
                                   writable ? " writable" : "");
    if (!view) return NULL;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected %zd-byte items, got format '%s'", name, itemsize,
                     pybuf_format_str(view));
        return NULL;
    }
    return view;
}

PyDoc_STRVAR(header_doc,
"header(data) -> (pos, counts) or None\n\n"
"The \\data\\ block of the ARPA text data (bytes): the byte offset after it and the\n"
"n-gram counts per order; None when the text is not for the fast path (arpa.h).");

static PyObject *py_header(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:header", &data)) return NULL;
    ngk_arpa_head h;
    int rc = ngk_arpa_header((const uint8_t *)data.buf, (size_t)data.len, &h);
    PyBuffer_Release(&data);
    if (rc) Py_RETURN_NONE;
    PyObject *counts = PyTuple_New(h.order);
    if (!counts) return NULL;
    for (int k = 0; k < h.order; k++) PyTuple_SET_ITEM(counts, k, PyLong_FromLongLong(h.count[k]));
    return Py_BuildValue("(nN)", (Py_ssize_t)h.pos, counts);
}

PyDoc_STRVAR(parse_doc,
"parse(data, pos, counts, probs, backs, ids, parents, specials) -> list of str or None\n\n"
"Parse the sections of the ARPA text data (after header(data)) into the given\n"
"per-order buffers: probs/backs float64 (M_k,), ids int32 (M_k * k) vocabulary\n"
"ids (specials, a tuple of UTF-8 bytes, first; then the other unigrams in file\n"
"order), parents int32 (M_k,) rows of the prefix in section k-1 (pass\n"
"any buffer for order 1). Returns the unigram words in file order, or None when\n"
"the text is not for the fast path (the caller's parser then reads it or names\n"
"its error).");

static PyObject *py_parse(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t pos;
    PyObject *t_counts, *t_p, *t_b, *t_i, *t_par, *t_sp;
    if (!PyArg_ParseTuple(args, "y*nO!O!O!O!O!O!:parse", &data, &pos, &PyTuple_Type, &t_counts, &PyTuple_Type, &t_p,
                          &PyTuple_Type, &t_b, &PyTuple_Type, &t_i, &PyTuple_Type, &t_par, &PyTuple_Type, &t_sp))
        return NULL;
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    int64_t *word = NULL;
    ngk_arpa_head h;
    ngk_arpa_out o;
    memset(&o, 0, sizeof o);
    Py_ssize_t order = PyTuple_GET_SIZE(t_counts);
    if (order < 1 || order > NGK_ARPA_MAX_ORDER || PyTuple_GET_SIZE(t_p) != order || PyTuple_GET_SIZE(t_b) != order ||
        PyTuple_GET_SIZE(t_i) != order || PyTuple_GET_SIZE(t_par) != order || pos < 0 || pos > data.len) {
        PyErr_SetString(PyExc_ValueError, "parse: counts, probs, backs, ids and parents need one entry per order");
        goto done;
    }
    h.order = (int)order;
    h.pos = (size_t)pos;
    for (Py_ssize_t k = 0; k < order; k++) {
        long long m = PyLong_AsLongLong(PyTuple_GET_ITEM(t_counts, k));
        if (m == -1 && PyErr_Occurred()) goto done;
        h.count[k] = m;
        Py_buffer *p, *b, *i, *par;
        if (!(p = get_buf(&bf, PyTuple_GET_ITEM(t_p, k), 8, 1, "probs")) ||
            !(b = get_buf(&bf, PyTuple_GET_ITEM(t_b, k), 8, 1, "backs")) ||
            !(i = get_buf(&bf, PyTuple_GET_ITEM(t_i, k), 4, 1, "ids")) ||
            !(par = get_buf(&bf, PyTuple_GET_ITEM(t_par, k), 4, 1, "parents")))
            goto done;
        if (m < 0 || p->len / 8 != m || b->len / 8 != m || i->len / 4 != m * (k + 1) || (k > 0 && par->len / 4 != m)) {
            PyErr_SetString(PyExc_ValueError, "parse: buffer sizes do not match the counts");
            goto done;
        }
        o.prob[k] = p->buf;
        o.back[k] = b->buf;
        o.ids[k] = i->buf;
        o.parent[k] = k > 0 ? par->buf : NULL;
    }
    if (PyTuple_GET_SIZE(t_sp) > 8) {
        PyErr_SetString(PyExc_ValueError, "parse: at most 8 specials");
        goto done;
    }
    o.n_specials = (int)PyTuple_GET_SIZE(t_sp);
    for (int q = 0; q < o.n_specials; q++) {
        PyObject *b = PyTuple_GET_ITEM(t_sp, q);
        if (!PyBytes_Check(b)) {
            PyErr_SetString(PyExc_TypeError, "parse: specials must be bytes");
            goto done;
        }
        o.special[q] = (const uint8_t *)PyBytes_AS_STRING(b);
        o.special_len[q] = PyBytes_GET_SIZE(b);
    }
    o.vocab_id = o.ids[0]; /* order 1's ids are the unigrams' vocabulary ids */
    word = PyMem_Malloc((size_t)(h.count[0] > 0 ? h.count[0] : 1) * 2 * sizeof *word);
    if (!word) {
        PyErr_NoMemory();
        goto done;
    }
    o.word = word;
    int rc;
    const uint8_t *s = data.buf;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_arpa_precheck(s, (size_t)data.len);
    if (!rc) rc = ngk_arpa_parse(s, (size_t)data.len, &h, &o);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (rc) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = PyList_New((Py_ssize_t)h.count[0]);
    if (!result) goto done;
    for (int64_t r = 0; r < h.count[0]; r++) {
        PyObject *w = PyUnicode_DecodeUTF8((const char *)s + word[2 * r], (Py_ssize_t)word[2 * r + 1], "strict");
        if (!w) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)r, w);
    }
done:
    PyMem_Free(word);
    release(&bf);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(format_doc,
"format(prob, back, ids, k, words, wstart, wlen, bos) -> bytes\n\n"
"ARPA lines of m n-grams of order k: prob/back float64 (m,) (back None: no\n"
"backoff column), ids int32 (m * k) vocabulary ids, words the vocabulary's\n"
"UTF-8 bytes with wstart/wlen int64 (V,) offsets and lengths; the unigram\n"
"probability of id bos is written -99 (bos -1: none). Byte for byte the numpy\n"
"writer's text (8 decimals, trailing zeros dropped, -99 for non-finite values).");

static PyObject *py_format(PyObject *self, PyObject *args) {
    PyObject *o_p, *o_b, *o_i, *o_w, *o_ws, *o_wl;
    int k, bos;
    if (!PyArg_ParseTuple(args, "OOOiOOOi:format", &o_p, &o_b, &o_i, &k, &o_w, &o_ws, &o_wl, &bos)) return NULL;
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    Py_buffer *p, *b = NULL, *ids, *w, *ws, *wl;
    if (!(p = get_buf(&bf, o_p, 8, 0, "prob")) || (o_b != Py_None && !(b = get_buf(&bf, o_b, 8, 0, "back"))) ||
        !(ids = get_buf(&bf, o_i, 4, 0, "ids")) || !(w = get_buf(&bf, o_w, 1, 0, "words")) ||
        !(ws = get_buf(&bf, o_ws, 8, 0, "wstart")) || !(wl = get_buf(&bf, o_wl, 8, 0, "wlen")))
        goto done;
    int64_t m = p->len / 8, v = ws->len / 8;
    if (k < 1 || (b && b->len / 8 != m) || ids->len / 4 != m * k || wl->len / 8 != v) {
        PyErr_SetString(PyExc_ValueError, "format: prob, back and ids (m * k) or wstart and wlen disagree in size");
        goto done;
    }
    const int64_t *wst = ws->buf, *wln = wl->buf;
    const int32_t *id = ids->buf;
    for (int64_t i = 0; i < v; i++)
        if (wst[i] < 0 || wln[i] < 0 || wst[i] + wln[i] > w->len) {
            PyErr_SetString(PyExc_ValueError, "format: a word's bytes lie outside words");
            goto done;
        }
    /* size: per line at most 14 bytes per number, 2 tabs, k - 1 spaces, LF, and the words */
    int64_t cap = m * (2 * 14 + 2 + k), rc = 0;
    for (int64_t i = 0; i < m * k; i++) {
        if ((uint64_t)id[i] >= (uint64_t)v) {
            PyErr_SetString(PyExc_IndexError, "format: a word id is outside the vocabulary");
            goto done;
        }
        cap += wln[id[i]];
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
    if (!result) goto done;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_arpa_format(p->buf, b ? b->buf : NULL, id, m, k, w->buf, wst, wln, v, bos,
                         (uint8_t *)PyBytes_AS_STRING(result), cap);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        Py_CLEAR(result);
        if (rc == -3) PyErr_SetString(PyExc_ValueError, "cannot write ARPA: a log10 value is >= 1000");
        else PyErr_SetString(PyExc_SystemError, "format: output size miscounted");
        goto done;
    }
    if (_PyBytes_Resize(&result, (Py_ssize_t)rc) < 0) result = NULL;
done:
    release(&bf);
    return result;
}

static PyObject *py_bail_line(PyObject *self, PyObject *args) { return PyLong_FromLong(ngk_arpa_bail_line); }

static PyMethodDef methods[] = {
    {"bail_line", py_bail_line, METH_NOARGS, "bail_line() -> the arpa.c line where the last parse stepped aside"},
    {"header", py_header, METH_VARARGS, header_doc},
    {"parse", py_parse, METH_VARARGS, parse_doc},
    {"format", py_format, METH_VARARGS, format_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_arpa", "C kernels for ARPA text: the reader's fast path and the writer's lines.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__arpa(void) { return PyModule_Create(&module); }
