/* Python binding of the sampling kernel (sample.c): argument checks, buffer protocol (C-contiguous 1-D buffers,
 * no numpy headers), GIL released around the loops so that threads sample disjoint sentence ranges at once. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "sample.h"

#define PYBUF_MAX (5 * NGK_SAMPLE_MAX_ORDER + 8)
#include "pybuf.h"

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
#define U8 "Bb?c"

/* tables = (order, V, bos, pad, eos, uni_row, last tuple, cum tuple, real tuple, child tuple, mass tuple) */
static int get_model(Bufs *bf, PyObject *tables, NgkSampler *m) {
    PyObject *o_uni, *o_last, *o_cum, *o_real, *o_child, *o_mass;
    long long order, vocab;
    int bos, pad, eos;
    if (!PyArg_ParseTuple(tables, "LLiiiOO!O!O!O!O!:tables", &order, &vocab, &bos, &pad, &eos, &o_uni, &PyTuple_Type,
                          &o_last, &PyTuple_Type, &o_cum, &PyTuple_Type, &o_real, &PyTuple_Type, &o_child,
                          &PyTuple_Type, &o_mass))
        return -1;
    if (order < 1 || order > NGK_SAMPLE_MAX_ORDER || vocab < 1 || PyTuple_GET_SIZE(o_last) != order ||
        PyTuple_GET_SIZE(o_cum) != order || PyTuple_GET_SIZE(o_real) != order ||
        PyTuple_GET_SIZE(o_child) != order - 1 || PyTuple_GET_SIZE(o_mass) != order - 1 || bos < 0 || bos >= vocab || eos < 0 || eos >= vocab) {
        PyErr_SetString(PyExc_ValueError, "sampler tables: inconsistent order, vocabulary or table counts");
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->order = (int)order;
    m->vocab = vocab;
    m->bos = bos;
    m->pad = pad;
    m->eos = eos;
    Py_buffer *v;
    if (!(v = get_buf(bf, o_uni, 4, INT32, 0, "uni_row"))) return -1;
    if (v->len / 4 != vocab) {
        PyErr_SetString(PyExc_ValueError, "uni_row: expected one entry per word");
        return -1;
    }
    m->uni_row = v->buf;
    for (int k = 0; k < m->order; k++) {
        if (!(v = get_buf(bf, PyTuple_GET_ITEM(o_last, k), 4, INT32, 0, "last"))) return -1;
        m->last[k] = v->buf;
        m->size[k] = v->len / 4;
        if (!(v = get_buf(bf, PyTuple_GET_ITEM(o_cum, k), 8, F64, 0, "cum"))) return -1;
        m->cum[k] = v->buf;
        if (v->len / 8 != m->size[k]) goto bad;
        if (!(v = get_buf(bf, PyTuple_GET_ITEM(o_real, k), 1, U8, 0, "real"))) return -1;
        m->real[k] = v->buf;
        if (v->len != m->size[k]) goto bad;
    }
    for (int k = 0; k + 1 < m->order; k++) {
        if (!(v = get_buf(bf, PyTuple_GET_ITEM(o_child, k), 8, INT64, 0, "child"))) return -1;
        m->child[k] = v->buf;
        if (v->len / 8 != m->size[k] + 1) goto bad;
        if (!(v = get_buf(bf, PyTuple_GET_ITEM(o_mass, k), 8, F64, 0, "mass"))) return -1;
        m->mass[k] = v->buf;
        if (v->len / 8 != m->size[k]) goto bad;
    }
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, "sampler tables: array sizes disagree");
    return -1;
}

PyDoc_STRVAR(sample_doc,
"sample(tables, seed, first, count, tokens, lengths, max_draws) -> int\n\n"
"Sample sentences first .. first+count-1 (each ending with </s>) into tokens (int32, writable); lengths (int64,\n"
"count entries) receives their token counts. Stops before a sentence that does not fit. Returns the number of\n"
"whole sentences written; -1: a token needed more than max_draws draws; -2: no unigram mass.");

static PyObject *py_sample(PyObject *self, PyObject *args) {
    PyObject *tables, *o_tok, *o_len;
    unsigned long long seed;
    long long first, count, max_draws;
    if (!PyArg_ParseTuple(args, "OKLLOOL:sample", &tables, &seed, &first, &count, &o_tok, &o_len, &max_draws))
        return NULL;
    Bufs bf = BUFS_INIT;
    NgkSampler m;
    Py_buffer *tok, *len;
    PyObject *result = NULL;
    if (get_model(&bf, tables, &m) < 0) goto done;
    if (!(tok = get_buf(&bf, o_tok, 4, INT32, 1, "tokens")) || !(len = get_buf(&bf, o_len, 8, INT64, 1, "lengths")))
        goto done;
    if (count < 0 || first < 0 || len->len / 8 < count) {
        PyErr_SetString(PyExc_ValueError, "sample: first and count must be >= 0, lengths must hold count entries");
        goto done;
    }
    int64_t rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_sample(&m, (uint64_t)seed, first, count, (int32_t *)tok->buf, tok->len / 4, (int64_t *)len->buf,
                    max_draws);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(rc);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(render_doc,
"render(tokens, words, offsets, eos, out) -> int\n\n"
"Write the text of tokens (int32) into out (writable bytes): words (bytes, concatenated, offsets int64 (V+1,))\n"
"joined by spaces, eos as a newline. out must hold sum of word lengths + 1 per token. Returns bytes written.");

static PyObject *py_render(PyObject *self, PyObject *args) {
    PyObject *o_tok, *o_words, *o_off, *o_out;
    int eos;
    if (!PyArg_ParseTuple(args, "OOOiO:render", &o_tok, &o_words, &o_off, &eos, &o_out)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *tok, *words, *off, *out;
    PyObject *result = NULL;
    if (!(tok = get_buf(&bf, o_tok, 4, INT32, 0, "tokens")) || !(words = get_buf(&bf, o_words, 1, U8, 0, "words")) ||
        !(off = get_buf(&bf, o_off, 8, INT64, 0, "offsets")) || !(out = get_buf(&bf, o_out, 1, U8, 1, "out")))
        goto done;
    int64_t n = tok->len / 4, nv = off->len / 8 - 1;
    const int32_t *t = tok->buf;
    const int64_t *o = off->buf;
    int64_t need = 0;
    for (int64_t i = 0; i < n; i++) {
        if (t[i] < 0 || t[i] >= nv) {
            PyErr_SetString(PyExc_ValueError, "render: token id outside the vocabulary");
            goto done;
        }
        need += o[t[i] + 1] - o[t[i]] + 1;
    }
    if (need > out->len || (nv > 0 && o[nv] > words->len)) {
        PyErr_SetString(PyExc_ValueError, "render: out too small or offsets past the words");
        goto done;
    }
    int64_t written;
    Py_BEGIN_ALLOW_THREADS
    written = ngk_render(t, n, words->buf, o, eos, out->buf);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(written);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(uniform_doc, "uniform(seed, sentence, t) -> float: draw t of sentence's stream (tests).");

static PyObject *py_uniform(PyObject *self, PyObject *args) {
    unsigned long long seed, sentence, t;
    if (!PyArg_ParseTuple(args, "KKK:uniform", &seed, &sentence, &t)) return NULL;
    return PyFloat_FromDouble(ngk_uniform(ngk_stream_key(seed, sentence), t));
}

static PyMethodDef methods[] = {
    {"sample", py_sample, METH_VARARGS, sample_doc},
    {"render", py_render, METH_VARARGS, render_doc},
    {"uniform", py_uniform, METH_VARARGS, uniform_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sample", "Backoff n-gram sampling kernel.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__sample(void) { return PyModule_Create(&module); }
