/* Python binding of the compact-format kernel (compact.c): argument checks, buffer protocol (C-contiguous
 * 1-D buffers, no numpy headers), GIL released around the loops. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "compact.h"

/* score borrows 4 buffers per order (records, prob centres, backoff centres) plus 6 */
#define PYBUF_MAX (3 * NGK_COMPACT_MAX_ORDER + 8)
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

#define UINT8 "B"
#define UINT64 "LQkK"
#define INT32 "il"
#define INT64 "lq"
#define F32 "f"
#define F64 "d"

/* Bytes a field of n records needs: its last bit, plus the 8 bytes of padding every read may touch. */
static int fits(Py_ssize_t len, int64_t n, int width, unsigned long long start, unsigned long long stride) {
    if (n <= 0) return 1;
    unsigned long long last = start + (unsigned long long)(n - 1) * stride + (unsigned long long)width;
    return (unsigned long long)len >= (last + 7) / 8 + 8;
}

static int check_field(int width, unsigned long long stride, const char *fn) {
    if (width < 1 || width > NGK_COMPACT_MAX_FIELD || stride < (unsigned long long)width) {
        PyErr_Format(PyExc_ValueError, "%s: width must be 1..%d and at most stride", fn, NGK_COMPACT_MAX_FIELD);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(pack_doc,
"pack(values, width, start, stride, out) -> None\n\n"
"OR the low `width` bits (1..57) of every uint64 value into the uint8 buffer out:\n"
"value i at bit start + i * stride (little-endian bit strings). out must hold the\n"
"last bit plus 8 bytes of padding; the caller zeroes it first.");

static PyObject *py_pack(PyObject *self, PyObject *args) {
    PyObject *o_val, *o_out;
    int width;
    unsigned long long start, stride;
    if (!PyArg_ParseTuple(args, "OiKKO:pack", &o_val, &width, &start, &stride, &o_out)) return NULL;
    if (check_field(width, stride, "pack")) return NULL;
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    Py_buffer *val, *out;
    if (!(val = get_buf(&bf, o_val, 8, UINT64, 0, "values")) || !(out = get_buf(&bf, o_out, 1, UINT8, 1, "out")))
        goto done;
    int64_t n = val->len / 8;
    if (!fits(out->len, n, width, start, stride)) {
        PyErr_SetString(PyExc_ValueError, "pack: out is too short for these fields (and 8 bytes of padding)");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    ngk_pack((const uint64_t *)val->buf, n, width, start, stride, (uint8_t *)out->buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(unpack_doc,
"unpack(bits, width, start, stride, out) -> None\n\n"
"The inverse of pack: out (uint64, n entries) receives the `width`-bit field of\n"
"records 0..n-1 of bits.");

static PyObject *py_unpack(PyObject *self, PyObject *args) {
    PyObject *o_bits, *o_out;
    int width;
    unsigned long long start, stride;
    if (!PyArg_ParseTuple(args, "OiKKO:unpack", &o_bits, &width, &start, &stride, &o_out)) return NULL;
    if (check_field(width, stride, "unpack")) return NULL;
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    Py_buffer *bits, *out;
    if (!(bits = get_buf(&bf, o_bits, 1, UINT8, 0, "bits")) || !(out = get_buf(&bf, o_out, 8, UINT64, 1, "out")))
        goto done;
    int64_t n = out->len / 8;
    if (!fits(bits->len, n, width, start, stride)) {
        PyErr_SetString(PyExc_ValueError, "unpack: bits is too short for these fields (and 8 bytes of padding)");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    ngk_unpack((const uint8_t *)bits->buf, n, width, start, stride, (uint64_t *)out->buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(score_doc,
"score(padded, offsets, uni_prob, uni_backoff, uni_ptr, uni_ptr_bits, levels, out, suffix_closed=False) -> n\n\n"
"Score a padded stream (int32, each sentence <s> w1 .. </s>; offsets int64 rising\n"
"strictly from 0 to len(padded)) with a compact model (compact.h): uni_prob and\n"
"uni_backoff float32 (V,), uni_ptr uint8 (V+1 packed pointers), levels one tuple\n"
"per order 2..N: (records uint8, n, word_bits, prob_bits, backoff_bits, ptr_bits,\n"
"prob_centres float32, backoff_centres float32 or None at order N). out: float64\n"
"(len(padded) - n_sentences,) log10 probabilities. suffix_closed: every n-gram's\n"
"suffix is in the model, so the search stops at the first absent order.\n"
"Returns the tokens scored.");

static PyObject *py_score(PyObject *self, PyObject *args) {
    PyObject *o_pad, *o_off, *o_up, *o_ub, *o_ptr, *t_lv, *o_out;
    int uni_pbits, suffix_closed = 0;
    if (!PyArg_ParseTuple(args, "OOOOOiO!O|p:score", &o_pad, &o_off, &o_up, &o_ub, &o_ptr, &uni_pbits, &PyTuple_Type,
                          &t_lv, &o_out, &suffix_closed))
        return NULL;
    Py_ssize_t n_lv = PyTuple_GET_SIZE(t_lv);
    if (n_lv + 1 > NGK_COMPACT_MAX_ORDER) {
        PyErr_Format(PyExc_ValueError, "score: at most %d orders", NGK_COMPACT_MAX_ORDER);
        return NULL;
    }
    Bufs bf = BUFS_INIT;
    PyObject *result = NULL;
    ngk_compact m;
    memset(&m, 0, sizeof m);
    m.order = (int)n_lv + 1;
    Py_buffer *pad, *off, *up, *ub, *ptr, *out;
    if (!(pad = get_buf(&bf, o_pad, 4, INT32, 0, "padded")) || !(off = get_buf(&bf, o_off, 8, INT64, 0, "offsets")) ||
        !(up = get_buf(&bf, o_up, 4, F32, 0, "uni_prob")) || !(ub = get_buf(&bf, o_ub, 4, F32, 0, "uni_backoff")) ||
        !(ptr = get_buf(&bf, o_ptr, 1, UINT8, 0, "uni_ptr")) || !(out = get_buf(&bf, o_out, 8, F64, 1, "out")))
        goto done;
    m.vocab = up->len / 4;
    if (m.vocab < 1 || ub->len / 4 != m.vocab) {
        PyErr_SetString(PyExc_ValueError, "score: uni_prob and uni_backoff must have the same size V >= 1");
        goto done;
    }
    if (uni_pbits < 1 || uni_pbits > NGK_COMPACT_MAX_FIELD ||
        !fits(ptr->len, m.vocab + 1, uni_pbits, 0, (unsigned long long)uni_pbits)) {
        PyErr_SetString(PyExc_ValueError, "score: uni_ptr must hold V+1 pointers of uni_ptr_bits (1..57) bits");
        goto done;
    }
    m.uni_prob = (const float *)up->buf;
    m.uni_backoff = (const float *)ub->buf;
    m.uni_ptr = (const uint8_t *)ptr->buf;
    m.uni_pbits = uni_pbits;
    for (Py_ssize_t i = 0; i < n_lv; i++) {
        ngk_level *lv = &m.level[i + 1];
        int top = i == n_lv - 1;
        PyObject *o_bits, *o_pc, *o_bc;
        long long count;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(t_lv, i), "OLiiiiOO;score: a level is (records, n, word_bits, "
                              "prob_bits, backoff_bits, ptr_bits, prob_centres, backoff_centres)",
                              &o_bits, &count, &lv->wbits, &lv->qbits, &lv->bbits, &lv->pbits, &o_pc, &o_bc))
            goto done;
        Py_buffer *bits, *pc, *bc = NULL;
        if (!(bits = get_buf(&bf, o_bits, 1, UINT8, 0, "records")) || !(pc = get_buf(&bf, o_pc, 4, F32, 0, "prob_centres")))
            goto done;
        if (!top && !(bc = get_buf(&bf, o_bc, 4, F32, 0, "backoff_centres"))) goto done;
        int widths_ok = count >= 0 && lv->wbits >= 1 && lv->wbits <= NGK_COMPACT_MAX_FIELD && lv->qbits >= 1 &&
                        lv->qbits <= 24 && (top ? lv->bbits == 0 && lv->pbits == 0
                                                : lv->bbits >= 1 && lv->bbits <= 24 && lv->pbits >= 1 &&
                                                      lv->pbits <= NGK_COMPACT_MAX_FIELD);
        lv->rec = lv->wbits + lv->qbits + lv->bbits + lv->pbits;
        if (!widths_ok || pc->len != (Py_ssize_t)4 << lv->qbits || (bc && bc->len != (Py_ssize_t)4 << lv->bbits) ||
            !fits(bits->len, count + 1, lv->rec, 0, (unsigned long long)lv->rec)) {
            PyErr_Format(PyExc_ValueError, "score: the order-%d level's widths, centres or records do not agree",
                         (int)i + 2);
            goto done;
        }
        lv->bits = (const uint8_t *)bits->buf;
        lv->n = count;
        lv->prob = (const float *)pc->buf;
        lv->backoff = bc ? (const float *)bc->buf : NULL;
    }
    int64_t n_sent = pybuf_sentences("score", off, pad, out);
    if (n_sent < 0) goto done;
    const int64_t *offsets = (const int64_t *)off->buf;
    int64_t written;
    Py_BEGIN_ALLOW_THREADS
    written = ngk_compact_score(&m, (const int32_t *)pad->buf, offsets, n_sent, suffix_closed, (double *)out->buf);
    Py_END_ALLOW_THREADS
    if (written < 0) {
        PyErr_SetString(PyExc_IndexError, "score: word id outside 0..V-1");
        goto done;
    }
    result = PyLong_FromLongLong(written);
done:
    release(&bf);
    return result;
}

static PyMethodDef methods[] = {
    {"pack", py_pack, METH_VARARGS, pack_doc},
    {"unpack", py_unpack, METH_VARARGS, unpack_doc},
    {"score", py_score, METH_VARARGS, score_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_compact", "Quantised compact n-gram format kernel.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__compact(void) { return PyModule_Create(&module); }
