/* Python binding of the RNN kernels (rnn.c): argument checks, buffer protocol
 * (no numpy headers), GIL released around the maths. Results are returned as
 * bytearrays that ngramkit/rnn/kernels.py views with numpy.frombuffer.
 *
 * Errors match ngramkit/rnn/reference.py: not a buffer or wrong dtype ->
 * TypeError; wrong ndim or shape, non-C-contiguous, unknown cell, target or
 * class bound out of range -> ValueError. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "pybuf.h"
#include "rnn.h"

/* Borrow an array: kind 'f' = float32, 'i' = int32; ndim exact. */
static Py_buffer *get(Bufs *b, PyObject *o, char kind, int ndim, int writable, const char *name) {
    const char *want = kind == 'f' ? "float32" : "int32";
    if (!PyObject_CheckBuffer(o)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a numpy %s array, got %s", name, want, Py_TYPE(o)->tp_name);
        return NULL;
    }
    Py_buffer *v = pybuf_borrow(b, o, PyBUF_RECORDS_RO | (writable ? PyBUF_WRITABLE : 0),
                                "%s: expected a%s numpy %s array", name, writable ? " writable" : "", want);
    if (!v) return NULL;
    char c = pybuf_format(v);
    int ok = v->itemsize == 4 && (kind == 'f' ? c == 'f' : (c == 'i' || c == 'l'));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected dtype %s, got buffer format '%s' (itemsize %zd); convert with "
                     ".astype(np.%s)", name, want, v->format ? v->format : "B", v->itemsize, want);
        return NULL;
    }
    if (v->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected a %d-D array, got %d-D", name, ndim, v->ndim);
        return NULL;
    }
    if (!PyBuffer_IsContiguous(v, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s: array must be C-contiguous; pass np.ascontiguousarray(%s)", name, name);
        return NULL;
    }
    return v;
}

static int shape_err(const Py_buffer *v, const char *name, int nd, Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t d2) {
    Py_ssize_t want[3] = {d0, d1, d2};
    for (int i = 0; i < nd; i++) {
        if (v->shape[i] != want[i]) {
            char got[96], exp[96];
            if (nd == 1) {
                snprintf(got, sizeof got, "(%zd,)", v->shape[0]);
                snprintf(exp, sizeof exp, "(%zd,)", d0);
            } else if (nd == 2) {
                snprintf(got, sizeof got, "(%zd, %zd)", v->shape[0], v->shape[1]);
                snprintf(exp, sizeof exp, "(%zd, %zd)", d0, d1);
            } else {
                snprintf(got, sizeof got, "(%zd, %zd, %zd)", v->shape[0], v->shape[1], v->shape[2]);
                snprintf(exp, sizeof exp, "(%zd, %zd, %zd)", d0, d1, d2);
            }
            PyErr_Format(PyExc_ValueError, "%s: expected shape %s, got %s", name, exp, got);
            return -1;
        }
    }
    return 0;
}

static int cell_code(PyObject *o) {
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (s && !strcmp(s, "rnn")) return NK_RNN;
    if (s && !strcmp(s, "gru")) return NK_GRU;
    if (s && !strcmp(s, "lstm")) return NK_LSTM;
    PyErr_Clear();
    PyObject *r = PyObject_Repr(o);
    PyErr_Format(PyExc_ValueError, "cell must be one of rnn, gru, lstm, got %s", r ? PyUnicode_AsUTF8(r) : "?");
    Py_XDECREF(r);
    return -1;
}

static PyObject *new_out(Py_ssize_t nfloat, size_t itemsize, void **ptr) {
    PyObject *o = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(nfloat * (Py_ssize_t)itemsize));
    if (o) *ptr = PyByteArray_AS_STRING(o);
    return o;
}

static PyObject *nomem(void) { return PyErr_NoMemory(); }

/* The checks forward and backward share: h0 is (B, H); c0 is a (B, H) cell
 * state for the lstm and None otherwise; Wh is (H, G*H) and bh (G*H,), G the
 * cell's gate count; peep is None or (lstm only) the (3, H) peephole weights.
 * Returns 0, or -1 with the exception set. */
static int state_and_weights(Bufs *bf, int cell, const char *cname, const Py_buffer *h0, Py_ssize_t B, Py_ssize_t H,
                             PyObject *o_c0, PyObject *o_wh, PyObject *o_bh, PyObject *o_peep, Py_buffer **c0,
                             Py_buffer **wh, Py_buffer **bh, Py_buffer **peep) {
    Py_ssize_t G = cell;
    if (shape_err(h0, "h0", 2, B, H, 0)) return -1;
    if (cell == NK_LSTM) {
        if (o_c0 == Py_None) {
            PyErr_SetString(PyExc_ValueError, "c0: the lstm cell needs an initial cell state (B, H), got None");
            return -1;
        }
        if (!(*c0 = get(bf, o_c0, 'f', 2, 0, "c0")) || shape_err(*c0, "c0", 2, B, H, 0)) return -1;
    } else if (o_c0 != Py_None) {
        PyErr_Format(PyExc_ValueError, "c0: only the lstm cell has a cell state; pass None for cell '%s'", cname);
        return -1;
    }
    if (!(*wh = get(bf, o_wh, 'f', 2, 0, "Wh")) || shape_err(*wh, "Wh", 2, H, G * H, 0)) return -1;
    if (!(*bh = get(bf, o_bh, 'f', 1, 0, "bh")) || shape_err(*bh, "bh", 1, G * H, 0, 0)) return -1;
    *peep = NULL;
    if (o_peep != Py_None) {
        if (cell != NK_LSTM) {
            PyErr_Format(PyExc_ValueError, "peep: only the lstm cell has peephole weights; pass None for cell '%s'",
                         cname);
            return -1;
        }
        if (!(*peep = get(bf, o_peep, 'f', 2, 0, "peep")) || shape_err(*peep, "peep", 2, 3, H, 0)) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ recurrent */
PyDoc_STRVAR(fwd_doc, "recurrent_forward(cell, xw, h0, c0, Wh, bh, peep) -> (hs, cT, gates, extra)\n\n"
                      "Bytearrays: hs (T,B,H), cT (B,H) or None, gates (T,B,G*H), extra (T,B,H) or None.");

static PyObject *py_forward(PyObject *self, PyObject *args) {
    PyObject *o_cell, *o_xw, *o_h0, *o_c0, *o_wh, *o_bh, *o_peep;
    if (!PyArg_ParseTuple(args, "OOOOOOO:recurrent_forward", &o_cell, &o_xw, &o_h0, &o_c0, &o_wh, &o_bh, &o_peep))
        return NULL;
    Bufs bf = {.n = 0};
    PyObject *hs = NULL, *ct = NULL, *gates = NULL, *extra = NULL, *res = NULL;
    int cell = cell_code(o_cell);
    if (cell < 0) return NULL;
    Py_buffer *xw = get(&bf, o_xw, 'f', 3, 0, "xw"), *h0, *c0 = NULL, *wh, *bh, *peep;
    if (!xw || !(h0 = get(&bf, o_h0, 'f', 2, 0, "h0"))) goto done;
    Py_ssize_t T = xw->shape[0], B = xw->shape[1], H = h0->shape[1], G = cell;
    if (xw->shape[2] != G * H) {
        PyErr_Format(PyExc_ValueError, "xw: expected last dimension G*H = %zd*%zd = %zd for cell %s, got %zd", G, H,
                     G * H, PyUnicode_AsUTF8(o_cell), xw->shape[2]);
        goto done;
    }
    if (state_and_weights(&bf, cell, PyUnicode_AsUTF8(o_cell), h0, B, H, o_c0, o_wh, o_bh, o_peep, &c0, &wh, &bh,
                          &peep))
        goto done;
    void *p_hs, *p_ct = NULL, *p_g, *p_x = NULL;
    if (!(hs = new_out(T * B * H, 4, &p_hs)) || !(gates = new_out(T * B * G * H, 4, &p_g))) goto done;
    if (cell != NK_RNN && !(extra = new_out(T * B * H, 4, &p_x))) goto done;
    if (cell == NK_LSTM && !(ct = new_out(B * H, 4, &p_ct))) goto done;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = nk_rnn_forward(cell, T, B, H, xw->buf, h0->buf, c0 ? c0->buf : NULL, wh->buf, bh->buf,
                        peep ? peep->buf : NULL, p_hs, p_ct, p_g, p_x);
    Py_END_ALLOW_THREADS
    if (rc) {
        nomem();
        goto done;
    }
    res = Py_BuildValue("(OOOO)", hs, ct ? ct : Py_None, gates, extra ? extra : Py_None);
done:
    release(&bf);
    Py_XDECREF(hs);
    Py_XDECREF(ct);
    Py_XDECREF(gates);
    Py_XDECREF(extra);
    return res;
}

PyDoc_STRVAR(bwd_doc,
             "recurrent_backward(cell, dhs, dhT, dcT, hs, gates, extra, h0, c0, Wh, bh, peep)\n"
             "-> (dxw, dh0, dc0, dWh, dbh)\n\n"
             "Bytearrays: dxw (T,B,G*H); dh0 (B,H); dc0 (B,H) or None; dWh (H,G*H); dbh (G*H,).");

static PyObject *py_backward(PyObject *self, PyObject *args) {
    PyObject *o_cell, *o_dhs, *o_dht, *o_dct, *o_hs, *o_g, *o_x, *o_h0, *o_c0, *o_wh, *o_bh, *o_peep;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOO:recurrent_backward", &o_cell, &o_dhs, &o_dht, &o_dct, &o_hs, &o_g,
                          &o_x, &o_h0, &o_c0, &o_wh, &o_bh, &o_peep))
        return NULL;
    Bufs bf = {.n = 0};
    PyObject *dxw = NULL, *dpre = NULL, *dh0 = NULL, *dc0 = NULL, *dwh = NULL, *dbh = NULL, *res = NULL;
    int cell = cell_code(o_cell);
    if (cell < 0) return NULL;
    const char *cname = PyUnicode_AsUTF8(o_cell);
    Py_buffer *dhs = get(&bf, o_dhs, 'f', 3, 0, "dhs"), *g, *hs, *x = NULL, *h0, *c0 = NULL, *wh, *bh, *peep,
              *dht = NULL, *dct = NULL;
    if (!dhs) goto done;
    Py_ssize_t T = dhs->shape[0], B = dhs->shape[1], H = dhs->shape[2], G = cell;
    if (!(g = get(&bf, o_g, 'f', 3, 0, "cache['gates']"))) goto done;
    if (!(h0 = get(&bf, o_h0, 'f', 2, 0, "h0"))) goto done;
    if (g->shape[2] != G * h0->shape[1]) {
        PyErr_Format(PyExc_ValueError, "xw: expected last dimension G*H = %zd*%zd = %zd for cell %s, got %zd", G,
                     h0->shape[1], G * h0->shape[1], cname, g->shape[2]);
        goto done;
    }
    if (state_and_weights(&bf, cell, cname, h0, B, H, o_c0, o_wh, o_bh, o_peep, &c0, &wh, &bh, &peep)) goto done;
    if (shape_err(g, "cache['gates']", 3, T, B, G * H)) goto done;
    if (!(hs = get(&bf, o_hs, 'f', 3, 0, "cache['hs']")) || shape_err(hs, "cache['hs']", 3, T, B, H)) goto done;
    if (cell != NK_RNN) {
        const char *xn = cell == NK_LSTM ? "cache['cs']" : "cache['hn']";
        if (!(x = get(&bf, o_x, 'f', 3, 0, xn)) || shape_err(x, xn, 3, T, B, H)) goto done;
    }
    if (o_dht != Py_None && (!(dht = get(&bf, o_dht, 'f', 2, 0, "dhT")) || shape_err(dht, "dhT", 2, B, H, 0)))
        goto done;
    if (o_dct != Py_None) {
        if (cell != NK_LSTM) {
            PyErr_Format(PyExc_ValueError, "dcT: only the lstm cell has a cell state; pass None for cell '%s'", cname);
            goto done;
        }
        if (!(dct = get(&bf, o_dct, 'f', 2, 0, "dcT")) || shape_err(dct, "dcT", 2, B, H, 0)) goto done;
    }
    void *p_dxw, *p_dpre = NULL, *p_dh0, *p_dc0 = NULL, *p_dwh, *p_dbh;
    if (!(dxw = new_out(T * B * G * H, 4, &p_dxw)) || !(dh0 = new_out(B * H, 4, &p_dh0))) goto done;
    if (!(dwh = new_out(H * G * H, 4, &p_dwh)) || !(dbh = new_out(G * H, 4, &p_dbh))) goto done;
    if (cell == NK_GRU && !(dpre = new_out(T * B * G * H, 4, &p_dpre))) goto done;
    if (cell == NK_LSTM && !(dc0 = new_out(B * H, 4, &p_dc0))) goto done;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = nk_rnn_backward(cell, T, B, H, dhs->buf, dht ? dht->buf : NULL, dct ? dct->buf : NULL, hs->buf, g->buf,
                         x ? x->buf : NULL, h0->buf, c0 ? c0->buf : NULL, wh->buf, peep ? peep->buf : NULL, p_dxw,
                         p_dpre, p_dh0, p_dc0, p_dwh, p_dbh);
    Py_END_ALLOW_THREADS
    if (rc) {
        nomem();
        goto done;
    }
    res = Py_BuildValue("(OOOOO)", dxw, dh0, dc0 ? dc0 : Py_None, dwh, dbh);
done:
    release(&bf);
    Py_XDECREF(dwh);
    Py_XDECREF(dbh);
    Py_XDECREF(dxw);
    Py_XDECREF(dpre);
    Py_XDECREF(dh0);
    Py_XDECREF(dc0);
    return res;
}

/* ------------------------------------------------------------------ softmax */
static int check_targets(const Py_buffer *t, Py_ssize_t n, Py_ssize_t v) {
    if (shape_err(t, "targets", 1, n, 0, 0)) return -1;
    const int32_t *p = t->buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= v) {
            PyErr_Format(PyExc_ValueError, "targets: word id %d out of range [0, %zd)", (int)p[i], v);
            return -1;
        }
    }
    return 0;
}

/* h (N,H), W (H,V), b (V,), targets (N,) -> N, V; -1 on error. */
static int softmax_args(Bufs *bf, PyObject *o_h, PyObject *o_w, PyObject *o_b, PyObject *o_t, Py_buffer **h,
                        Py_buffer **w, Py_buffer **b, Py_buffer **t) {
    if (!(*h = get(bf, o_h, 'f', 2, 0, "h"))) return -1;
    if (!(*w = get(bf, o_w, 'f', 2, 0, "W"))) return -1;
    if ((*w)->shape[0] != (*h)->shape[1]) {
        PyErr_Format(PyExc_ValueError, "W: expected %zd rows (the hidden size of h), got shape (%zd, %zd)",
                     (*h)->shape[1], (*w)->shape[0], (*w)->shape[1]);
        return -1;
    }
    if (!(*b = get(bf, o_b, 'f', 1, 0, "b")) || shape_err(*b, "b", 1, (*w)->shape[1], 0, 0)) return -1;
    if (!(*t = get(bf, o_t, 'i', 1, 0, "targets")) || check_targets(*t, (*h)->shape[0], (*w)->shape[1])) return -1;
    return 0;
}

PyDoc_STRVAR(check_doc, "softmax_check(h, W, b, targets) -> None: validate softmax_xent arguments.");

static PyObject *py_softmax_check(PyObject *self, PyObject *args) {
    PyObject *o_h, *o_w, *o_b, *o_t;
    if (!PyArg_ParseTuple(args, "OOOO:softmax_check", &o_h, &o_w, &o_b, &o_t)) return NULL;
    Bufs bf = {.n = 0};
    Py_buffer *h, *w, *b, *t;
    int rc = softmax_args(&bf, o_h, o_w, o_b, o_t, &h, &w, &b, &t);
    release(&bf);
    if (rc) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(lsm_doc, "log_softmax_xent(z, b, targets, scale, need_grad) -> (logp float64 bytes, db or None)\n\n"
                      "z (N,V) float32 logits without bias, overwritten with the gradient (or clobbered).");

static PyObject *py_log_softmax(PyObject *self, PyObject *args) {
    PyObject *o_z, *o_b, *o_t;
    float scale;
    int need_grad;
    if (!PyArg_ParseTuple(args, "OOOfp:log_softmax_xent", &o_z, &o_b, &o_t, &scale, &need_grad)) return NULL;
    Bufs bf = {.n = 0};
    PyObject *logp = NULL, *db = NULL, *res = NULL;
    Py_buffer *z = get(&bf, o_z, 'f', 2, 1, "z"), *b, *t;
    if (!z) goto done;
    Py_ssize_t N = z->shape[0], V = z->shape[1];
    if (!(b = get(&bf, o_b, 'f', 1, 0, "b")) || shape_err(b, "b", 1, V, 0, 0)) goto done;
    if (!(t = get(&bf, o_t, 'i', 1, 0, "targets")) || check_targets(t, N, V)) goto done;
    if (V == 0 && N > 0) {
        PyErr_SetString(PyExc_ValueError, "W: the vocabulary is empty (V = 0)");
        goto done;
    }
    void *p_lp, *p_db = NULL;
    if (!(logp = new_out(N, 8, &p_lp)) || (need_grad && !(db = new_out(V, 4, &p_db)))) goto done;
    Py_BEGIN_ALLOW_THREADS
    nk_log_softmax_xent(N, V, z->buf, b->buf, t->buf, scale, need_grad, p_lp, p_db);
    Py_END_ALLOW_THREADS
    res = Py_BuildValue("(OO)", logp, db ? db : Py_None);
done:
    release(&bf);
    Py_XDECREF(logp);
    Py_XDECREF(db);
    return res;
}

PyDoc_STRVAR(cls_doc, "class_softmax_xent(h, Wc, bc, Ww, bw, class_bounds, targets, scale, need_grad)\n"
                      "-> (logp, dh, dWc, dbc, dWw, dbw) bytearrays (gradients None unless need_grad).");

static PyObject *py_class_softmax(PyObject *self, PyObject *args) {
    PyObject *o_h, *o_wc, *o_bc, *o_ww, *o_bw, *o_cb, *o_t;
    float scale;
    int need_grad;
    if (!PyArg_ParseTuple(args, "OOOOOOOfp:class_softmax_xent", &o_h, &o_wc, &o_bc, &o_ww, &o_bw, &o_cb, &o_t, &scale,
                          &need_grad))
        return NULL;
    Bufs bf = {.n = 0};
    PyObject *out[6] = {NULL}, *res = NULL;
    Py_buffer *h = get(&bf, o_h, 'f', 2, 0, "h"), *wc, *bc, *ww, *bw, *cb, *t;
    if (!h) goto done;
    Py_ssize_t N = h->shape[0], H = h->shape[1];
    if (!(wc = get(&bf, o_wc, 'f', 2, 0, "Wc"))) goto done;
    if (wc->shape[0] != H) {
        PyErr_Format(PyExc_ValueError, "Wc: expected %zd rows (the hidden size of h), got shape (%zd, %zd)", H,
                     wc->shape[0], wc->shape[1]);
        goto done;
    }
    Py_ssize_t C = wc->shape[1];
    if (!(bc = get(&bf, o_bc, 'f', 1, 0, "bc")) || shape_err(bc, "bc", 1, C, 0, 0)) goto done;
    if (!(ww = get(&bf, o_ww, 'f', 2, 0, "Ww"))) goto done;
    if (ww->shape[0] != H) {
        PyErr_Format(PyExc_ValueError, "Ww: expected %zd rows (the hidden size of h), got shape (%zd, %zd)", H,
                     ww->shape[0], ww->shape[1]);
        goto done;
    }
    Py_ssize_t V = ww->shape[1];
    if (!(bw = get(&bf, o_bw, 'f', 1, 0, "bw")) || shape_err(bw, "bw", 1, V, 0, 0)) goto done;
    if (!(cb = get(&bf, o_cb, 'i', 1, 0, "class_bounds")) || shape_err(cb, "class_bounds", 1, C + 1, 0, 0)) goto done;
    const int32_t *bounds = cb->buf;
    int bad = C < 1 || bounds[0] != 0 || bounds[C] != V;
    for (Py_ssize_t c = 0; c < C && !bad; c++) bad = bounds[c + 1] <= bounds[c];
    if (bad) {
        PyErr_Format(PyExc_ValueError, "class_bounds: must increase strictly from 0 to V=%zd (every class non-empty)", V);
        goto done;
    }
    if (!(t = get(&bf, o_t, 'i', 1, 0, "targets")) || check_targets(t, N, V)) goto done;
    void *p[6] = {NULL};
    Py_ssize_t sizes[6] = {N, N * H, H * C, C, H * V, V};
    for (int i = 0; i < (need_grad ? 6 : 1); i++)
        if (!(out[i] = new_out(sizes[i], i ? 4 : 8, &p[i]))) goto done;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = nk_class_softmax_xent(N, H, C, V, h->buf, wc->buf, bc->buf, ww->buf, bw->buf, bounds, t->buf, scale,
                               need_grad, p[0], p[1], p[2], p[3], p[4], p[5]);
    Py_END_ALLOW_THREADS
    if (rc) {
        nomem();
        goto done;
    }
    res = PyTuple_New(6);
    if (!res) goto done;
    for (int i = 0; i < 6; i++) {
        PyObject *o = out[i] ? out[i] : Py_None;
        Py_INCREF(o);
        PyTuple_SET_ITEM(res, i, o);
    }
done:
    release(&bf);
    for (int i = 0; i < 6; i++) Py_XDECREF(out[i]);
    return res;
}

/* ------------------------------------------------------------------ misc */
PyDoc_STRVAR(mm_doc, "matmul(A, B) -> bytearray of A @ B (float32, (M,K) x (K,N)); the kernels' own product, "
                     "for benchmarks.");

static PyObject *py_matmul(PyObject *self, PyObject *args) {
    PyObject *o_a, *o_b;
    if (!PyArg_ParseTuple(args, "OO:matmul", &o_a, &o_b)) return NULL;
    Bufs bf = {.n = 0};
    PyObject *c = NULL, *res = NULL;
    Py_buffer *a = get(&bf, o_a, 'f', 2, 0, "A"), *b;
    if (!a || !(b = get(&bf, o_b, 'f', 2, 0, "B"))) goto done;
    Py_ssize_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (shape_err(b, "B", 2, K, N, 0)) goto done;
    void *pc;
    if (!(c = new_out(M * N, 4, &pc))) goto done;
    memset(pc, 0, (size_t)(M * N) * 4);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = nk_gemm(M, N, K, a->buf, K, b->buf, N, pc, N);
    Py_END_ALLOW_THREADS
    if (rc) {
        nomem();
        goto done;
    }
    res = c;
    c = NULL;
done:
    release(&bf);
    Py_XDECREF(c);
    return res;
}

static PyObject *py_simd(PyObject *self, PyObject *noargs) { return PyUnicode_FromString(nk_simd()); }

static PyMethodDef methods[] = {
    {"recurrent_forward", py_forward, METH_VARARGS, fwd_doc},
    {"recurrent_backward", py_backward, METH_VARARGS, bwd_doc},
    {"softmax_check", py_softmax_check, METH_VARARGS, check_doc},
    {"log_softmax_xent", py_log_softmax, METH_VARARGS, lsm_doc},
    {"class_softmax_xent", py_class_softmax, METH_VARARGS, cls_doc},
    {"matmul", py_matmul, METH_VARARGS, mm_doc},
    {"simd", py_simd, METH_NOARGS, "simd() -> the instruction set chosen at run time (avx2+fma or generic)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rnn",
    "C kernels of the RNN language model (float32, GIL released); use ngramkit.rnn.kernels.", -1, methods,
};

PyMODINIT_FUNC PyInit__rnn(void) { return PyModule_Create(&module); }
