/* Python binding of the fused optimiser updates (optim.c): argument checks on
 * C-contiguous float32 buffers (buffer protocol, no numpy headers), GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "optim.h"
#include "pybuf.h"

/* Borrow a C-contiguous float32 buffer into b (NULL: exception set). */
static Py_buffer *get_f32(Bufs *b, PyObject *obj, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    Py_buffer *view = pybuf_borrow(b, obj, flags, "%s: expected a C-contiguous%s float32 array", name,
                                   writable ? " writable" : "");
    if (!view) return NULL;
    if (view->itemsize != 4 || pybuf_format(view) != 'f') {
        PyErr_Format(PyExc_TypeError, "%s: expected dtype float32, got format '%s'", name, pybuf_format_str(view));
        return NULL;
    }
    return view;
}

static int same_len(Py_buffer *a, Py_buffer *b, const char *name) {
    if (a->len != b->len) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd elements like the parameter, got %zd", name,
                     a->len / 4, b->len / 4);
        return -1;
    }
    return 0;
}

static PyObject *py_sgd(PyObject *self, PyObject *args) {
    PyObject *op, *og;
    float alpha;
    if (!PyArg_ParseTuple(args, "OOf:sgd", &op, &og, &alpha)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *p, *g;
    PyObject *ret = NULL;
    if (!(p = get_f32(&bf, op, 1, "p")) || !(g = get_f32(&bf, og, 0, "g")) || same_len(p, g, "g")) goto done;
    Py_BEGIN_ALLOW_THREADS
    ngk_sgd((float *)p->buf, (const float *)g->buf, (size_t)(p->len / 4), alpha);
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    release(&bf);
    return ret;
}

static PyObject *py_adam(PyObject *self, PyObject *args) {
    PyObject *op, *og, *om, *ov;
    float gscale, b1, b2, step, eps;
    if (!PyArg_ParseTuple(args, "OOOOfffff:adam", &op, &og, &om, &ov, &gscale, &b1, &b2, &step, &eps)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *p, *g, *m, *v;
    PyObject *ret = NULL;
    if (!(p = get_f32(&bf, op, 1, "p")) || !(g = get_f32(&bf, og, 0, "g")) || !(m = get_f32(&bf, om, 1, "m")) ||
        !(v = get_f32(&bf, ov, 1, "v")))
        goto done;
    if (!same_len(p, g, "g") && !same_len(p, m, "m") && !same_len(p, v, "v")) {
        Py_BEGIN_ALLOW_THREADS
        ngk_adam((float *)p->buf, (const float *)g->buf, (float *)m->buf, (float *)v->buf, (size_t)(p->len / 4), gscale,
                 b1, b2, step, eps);
        Py_END_ALLOW_THREADS
        ret = Py_NewRef(Py_None);
    }
done:
    release(&bf);
    return ret;
}

static PyObject *py_sumsq(PyObject *self, PyObject *arg) {
    Bufs bf = BUFS_INIT;
    Py_buffer *g = get_f32(&bf, arg, 0, "g");
    if (!g) {
        release(&bf);
        return NULL;
    }
    double s;
    Py_BEGIN_ALLOW_THREADS
    s = ngk_sumsq((const float *)g->buf, (size_t)(g->len / 4));
    Py_END_ALLOW_THREADS
    release(&bf);
    return PyFloat_FromDouble(s);
}


/* Borrow a C-contiguous 1-D int64 buffer into b (NULL: exception set). */
static Py_buffer *get_i64(Bufs *b, PyObject *obj, const char *name) {
    Py_buffer *view = pybuf_borrow(b, obj, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT, "%s: expected a C-contiguous int64 array",
                                   name);
    if (!view) return NULL;
    if (view->itemsize != 8 || !strchr("qlQL", pybuf_format(view)) || view->ndim != 1) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D int64 array, got format '%s'", name, pybuf_format_str(view));
        return NULL;
    }
    return view;
}

/* rows x width of a 2-D float32 buffer; -1 with ValueError if not 2-D */
static int dims2(Py_buffer *b, const char *name, Py_ssize_t *rows, Py_ssize_t *width) {
    if (b->ndim != 2) {
        PyErr_Format(PyExc_ValueError, "%s: expected a 2-D array, got %d dimensions", name, b->ndim);
        return -1;
    }
    *rows = b->shape[0];
    *width = b->shape[1];
    return 0;
}

static int check_ids(const int64_t *ids, Py_ssize_t n, Py_ssize_t limit, const char *name) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= limit) {
            PyErr_Format(PyExc_ValueError, "%s: row %lld out of range [0, %zd)", name, (long long)ids[i], limit);
            return -1;
        }
    return 0;
}

static PyObject *py_rows(PyObject *self, PyObject *args, int adam) {
    PyObject *op, *og, *om = NULL, *ov = NULL, *oi;
    float gscale = 1.0f, b1 = 0, b2 = 0, step = 0, eps = 0, alpha = 0;
    if (adam) {
        if (!PyArg_ParseTuple(args, "OOOOOfffff:adam_rows", &op, &og, &om, &ov, &oi, &gscale, &b1, &b2, &step, &eps))
            return NULL;
    } else if (!PyArg_ParseTuple(args, "OOOf:sgd_rows", &op, &og, &oi, &alpha)) {
        return NULL;
    }
    Bufs bf = BUFS_INIT;
    Py_buffer *p, *g, *m = NULL, *v = NULL, *ids;
    PyObject *ret = NULL;
    Py_ssize_t rows, width, grows, gwidth;
    if (!(p = get_f32(&bf, op, 1, "p")) || !(g = get_f32(&bf, og, 0, "g")) || !(ids = get_i64(&bf, oi, "ids"))) goto done;
    if (adam && (!(m = get_f32(&bf, om, 1, "m")) || !(v = get_f32(&bf, ov, 1, "v")))) goto done;
    if (dims2(p, "p", &rows, &width) || dims2(g, "g", &grows, &gwidth)) goto done;
    if (gwidth != width || grows != ids->len / 8) {
        PyErr_Format(PyExc_ValueError, "g: expected shape (%zd, %zd), got (%zd, %zd)", ids->len / 8, width, grows, gwidth);
        goto done;
    }
    if (adam && (same_len(p, m, "m") || same_len(p, v, "v"))) goto done;
    if (check_ids((const int64_t *)ids->buf, grows, rows, "ids")) goto done;
    Py_BEGIN_ALLOW_THREADS
    if (adam)
        ngk_adam_rows((float *)p->buf, (const float *)g->buf, (float *)m->buf, (float *)v->buf,
                      (const int64_t *)ids->buf, (size_t)grows, (size_t)width, gscale, b1, b2, step, eps);
    else
        ngk_sgd_rows((float *)p->buf, (const float *)g->buf, (const int64_t *)ids->buf, (size_t)grows, (size_t)width,
                     alpha);
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    release(&bf);
    return ret;
}

static PyObject *py_sgd_rows(PyObject *self, PyObject *args) { return py_rows(self, args, 0); }
static PyObject *py_adam_rows(PyObject *self, PyObject *args) { return py_rows(self, args, 1); }

static PyObject *py_add_rows(PyObject *self, PyObject *args) {
    PyObject *oo, *ox, *oi;
    if (!PyArg_ParseTuple(args, "OOO:add_rows", &oo, &ox, &oi)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *out, *x, *inv;
    PyObject *ret = NULL;
    Py_ssize_t urows, width, n, xwidth;
    if (!(out = get_f32(&bf, oo, 1, "out")) || !(x = get_f32(&bf, ox, 0, "values")) || !(inv = get_i64(&bf, oi, "inv")))
        goto done;
    if (dims2(out, "out", &urows, &width) || dims2(x, "values", &n, &xwidth)) goto done;
    if (xwidth != width || n != inv->len / 8) {
        PyErr_Format(PyExc_ValueError, "values: expected shape (%zd, %zd), got (%zd, %zd)", inv->len / 8, width, n, xwidth);
        goto done;
    }
    if (check_ids((const int64_t *)inv->buf, n, urows, "inv")) goto done;
    Py_BEGIN_ALLOW_THREADS
    ngk_add_rows((float *)out->buf, (const float *)x->buf, (const int64_t *)inv->buf, (size_t)n, (size_t)width);
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    release(&bf);
    return ret;
}

static PyMethodDef methods[] = {
    {"sgd", py_sgd, METH_VARARGS, "sgd(p, g, alpha): p -= alpha * g (float32, in place)"},
    {"adam", py_adam, METH_VARARGS,
     "adam(p, g, m, v, gscale, b1, b2, step, eps): one fused Adam update of p, m, v in place"},
    {"sumsq", py_sumsq, METH_O, "sumsq(g) -> float: sum of squares (double accumulator)"},
    {"sgd_rows", py_sgd_rows, METH_VARARGS, "sgd_rows(p, g, ids, alpha): p[ids] -= alpha * g (row-sparse, in place)"},
    {"adam_rows", py_adam_rows, METH_VARARGS,
     "adam_rows(p, g, m, v, ids, gscale, b1, b2, step, eps): fused Adam on the rows ids of p, m, v"},
    {"add_rows", py_add_rows, METH_VARARGS, "add_rows(out, values, inv): out[inv[i]] += values[i]"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_optim",
                                    "Fused float32 optimiser updates for ngramkit.rnn.train.", -1, methods};

PyMODINIT_FUNC PyInit__optim(void) { return PyModule_Create(&module); }
