/* Python binding of the fused optimiser updates (optim.c): argument checks on
 * C-contiguous float32 buffers (buffer protocol, no numpy headers), GIL released. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "optim.h"

static int get_f32(PyObject *obj, Py_buffer *view, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous%s float32 array", name, writable ? " writable" : "");
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->itemsize != 4 || strcmp(f, "f") != 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected dtype float32, got format '%s'", name,
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
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
    Py_buffer p, g;
    if (get_f32(op, &p, 1, "p")) return NULL;
    if (get_f32(og, &g, 0, "g")) { PyBuffer_Release(&p); return NULL; }
    if (same_len(&p, &g, "g")) { PyBuffer_Release(&p); PyBuffer_Release(&g); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    ngk_sgd((float *)p.buf, (const float *)g.buf, (size_t)(p.len / 4), alpha);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&p);
    PyBuffer_Release(&g);
    Py_RETURN_NONE;
}

static PyObject *py_adam(PyObject *self, PyObject *args) {
    PyObject *op, *og, *om, *ov;
    float gscale, b1, b2, step, eps;
    if (!PyArg_ParseTuple(args, "OOOOfffff:adam", &op, &og, &om, &ov, &gscale, &b1, &b2, &step, &eps)) return NULL;
    Py_buffer p, g, m, v;
    if (get_f32(op, &p, 1, "p")) return NULL;
    if (get_f32(og, &g, 0, "g")) { PyBuffer_Release(&p); return NULL; }
    if (get_f32(om, &m, 1, "m")) { PyBuffer_Release(&p); PyBuffer_Release(&g); return NULL; }
    if (get_f32(ov, &v, 1, "v")) { PyBuffer_Release(&p); PyBuffer_Release(&g); PyBuffer_Release(&m); return NULL; }
    PyObject *ret = NULL;
    if (!same_len(&p, &g, "g") && !same_len(&p, &m, "m") && !same_len(&p, &v, "v")) {
        Py_BEGIN_ALLOW_THREADS
        ngk_adam((float *)p.buf, (const float *)g.buf, (float *)m.buf, (float *)v.buf, (size_t)(p.len / 4), gscale,
                 b1, b2, step, eps);
        Py_END_ALLOW_THREADS
        ret = Py_None;
        Py_INCREF(ret);
    }
    PyBuffer_Release(&p);
    PyBuffer_Release(&g);
    PyBuffer_Release(&m);
    PyBuffer_Release(&v);
    return ret;
}

static PyObject *py_sumsq(PyObject *self, PyObject *arg) {
    Py_buffer g;
    if (get_f32(arg, &g, 0, "g")) return NULL;
    double s;
    Py_BEGIN_ALLOW_THREADS
    s = ngk_sumsq((const float *)g.buf, (size_t)(g.len / 4));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&g);
    return PyFloat_FromDouble(s);
}


static int get_i64(PyObject *obj, Py_buffer *view, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous int64 array", name);
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->itemsize != 8 || strlen(f) != 1 || !strchr("qlQL", *f) || view->ndim != 1) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D int64 array, got format '%s'", name,
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
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

static void release_all(Py_buffer **bufs, int n) {
    for (int i = 0; i < n; i++)
        if (bufs[i]->obj) PyBuffer_Release(bufs[i]);
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
    Py_buffer p = {0}, g = {0}, m = {0}, v = {0}, ids = {0};
    Py_buffer *all[] = {&p, &g, &m, &v, &ids};
    PyObject *ret = NULL;
    Py_ssize_t rows, width, grows, gwidth;
    if (get_f32(op, &p, 1, "p") || get_f32(og, &g, 0, "g") || get_i64(oi, &ids, "ids")) goto done;
    if (adam && (get_f32(om, &m, 1, "m") || get_f32(ov, &v, 1, "v"))) goto done;
    if (dims2(&p, "p", &rows, &width) || dims2(&g, "g", &grows, &gwidth)) goto done;
    if (gwidth != width || grows != ids.len / 8) {
        PyErr_Format(PyExc_ValueError, "g: expected shape (%zd, %zd), got (%zd, %zd)", ids.len / 8, width, grows, gwidth);
        goto done;
    }
    if (adam && (same_len(&p, &m, "m") || same_len(&p, &v, "v"))) goto done;
    if (check_ids((const int64_t *)ids.buf, grows, rows, "ids")) goto done;
    Py_BEGIN_ALLOW_THREADS
    if (adam)
        ngk_adam_rows((float *)p.buf, (const float *)g.buf, (float *)m.buf, (float *)v.buf, (const int64_t *)ids.buf,
                      (size_t)grows, (size_t)width, gscale, b1, b2, step, eps);
    else
        ngk_sgd_rows((float *)p.buf, (const float *)g.buf, (const int64_t *)ids.buf, (size_t)grows, (size_t)width,
                     alpha);
    Py_END_ALLOW_THREADS
    ret = Py_None;
    Py_INCREF(ret);
done:
    release_all(all, 5);
    return ret;
}

static PyObject *py_sgd_rows(PyObject *self, PyObject *args) { return py_rows(self, args, 0); }
static PyObject *py_adam_rows(PyObject *self, PyObject *args) { return py_rows(self, args, 1); }

static PyObject *py_add_rows(PyObject *self, PyObject *args) {
    PyObject *oo, *ox, *oi;
    if (!PyArg_ParseTuple(args, "OOO:add_rows", &oo, &ox, &oi)) return NULL;
    Py_buffer out = {0}, x = {0}, inv = {0};
    Py_buffer *all[] = {&out, &x, &inv};
    PyObject *ret = NULL;
    Py_ssize_t urows, width, n, xwidth;
    if (get_f32(oo, &out, 1, "out") || get_f32(ox, &x, 0, "values") || get_i64(oi, &inv, "inv")) goto done;
    if (dims2(&out, "out", &urows, &width) || dims2(&x, "values", &n, &xwidth)) goto done;
    if (xwidth != width || n != inv.len / 8) {
        PyErr_Format(PyExc_ValueError, "values: expected shape (%zd, %zd), got (%zd, %zd)", inv.len / 8, width, n, xwidth);
        goto done;
    }
    if (check_ids((const int64_t *)inv.buf, n, urows, "inv")) goto done;
    Py_BEGIN_ALLOW_THREADS
    ngk_add_rows((float *)out.buf, (const float *)x.buf, (const int64_t *)inv.buf, (size_t)n, (size_t)width);
    Py_END_ALLOW_THREADS
    ret = Py_None;
    Py_INCREF(ret);
done:
    release_all(all, 3);
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
