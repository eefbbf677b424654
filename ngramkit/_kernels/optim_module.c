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

static PyMethodDef methods[] = {
    {"sgd", py_sgd, METH_VARARGS, "sgd(p, g, alpha): p -= alpha * g (float32, in place)"},
    {"adam", py_adam, METH_VARARGS,
     "adam(p, g, m, v, gscale, b1, b2, step, eps): one fused Adam update of p, m, v in place"},
    {"sumsq", py_sumsq, METH_O, "sumsq(g) -> float: sum of squares (double accumulator)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_optim",
                                    "Fused float32 optimiser updates for ngramkit.rnn.train.", -1, methods};

PyMODINIT_FUNC PyInit__optim(void) { return PyModule_Create(&module); }
