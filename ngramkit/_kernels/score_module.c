/* Python binding of the backoff scoring kernel (score.c): argument checks, buffer protocol
 * (C-contiguous 1-D buffers, no numpy headers), GIL released around the loop. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <structmember.h>
#include <math.h>

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

static inline double as_double_bits(int64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
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

PyDoc_STRVAR(vocab_build_doc,
"vocab_build(words, offsets, index) -> None\n\n"
"Fill index (int32, slots a power of two > vocab) with the hash of the vocabulary that a model\n"
"file stores: word i is words[offsets[i]:offsets[i+1]] (UTF-8 bytes; offsets int64, vocab + 1).\n"
"ValueError on bad sizes or a duplicate word.");

static PyObject *py_vocab_build(PyObject *self, PyObject *args) {
    PyObject *o_blob, *o_off, *o_index;
    if (!PyArg_ParseTuple(args, "OOO:vocab_build", &o_blob, &o_off, &o_index)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *blob, *off, *index;
    PyObject *result = NULL;
    if (!(blob = get_buf(&bf, o_blob, 1, "Bb", 0, "words")) || !(off = get_buf(&bf, o_off, 8, INT64, 0, "offsets")) ||
        !(index = get_buf(&bf, o_index, 4, INT32, 1, "index")))
        goto done;
    int64_t n = off->len / 8 - 1;
    const int64_t *offsets = (const int64_t *)off->buf;
    int ok = n >= 0 && offsets[0] == 0 && offsets[n] == blob->len;
    for (int64_t i = 0; ok && i < n; i++) ok = offsets[i] <= offsets[i + 1];
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "vocab_build: offsets must rise from 0 to len(words)");
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_vocab_build((const char *)blob->buf, offsets, n, (int32_t *)index->buf, index->len / 4);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetString(PyExc_ValueError, rc == -1 ? "vocab_build: index must have a power of two > vocab entries"
                                                   : "vocab_build: duplicate word");
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
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
        /* An id (a slot) times V plus a word must fit in int64: then no key overflows, whatever the
         * tables hold (they may come from a file: every lookup stays in bounds, see probe_find). */
        if (words / stride > INT64_MAX / vocab - 1) {
            PyErr_Format(PyExc_ValueError, "%s: tables[%zd] has too many slots for a vocabulary of %lld", fn, k - 1,
                         vocab);
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
    int64_t n_sent = pybuf_sentences("probe_score", off, pad, out);
    if (n_sent < 0) goto done;
    const int64_t *offsets = (const int64_t *)off->buf;
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


/* ---- The query types behind ngramkit.kenlm: State, FullScoreReturn, QueryModel --------------
 * KenLM's Python API in C, so a Python loop of BaseScore calls costs one C call each. */

typedef struct {
    PyObject_HEAD
    ngk_state st;
} StateObject;

static PyTypeObject StateType;

static PyObject *state_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "State() takes no arguments");
        return NULL;
    }
    StateObject *self = (StateObject *)type->tp_alloc(type, 0);
    if (self) memset(&self->st, 0, sizeof self->st);
    return (PyObject *)self;
}

/* KenLM's State::Compare: length first, then the words (here by id). */
static int state_compare(const ngk_state *a, const ngk_state *b) {
    if (a->length != b->length) return a->length < b->length ? -1 : 1;
    for (int j = 0; j < a->length; j++)
        if (a->words[j] != b->words[j]) return a->words[j] < b->words[j] ? -1 : 1;
    return 0;
}

static PyObject *state_richcompare(PyObject *a, PyObject *b, int op) {
    if (!PyObject_TypeCheck(a, &StateType) || !PyObject_TypeCheck(b, &StateType)) Py_RETURN_NOTIMPLEMENTED;
    int r = state_compare(&((StateObject *)a)->st, &((StateObject *)b)->st);
    Py_RETURN_RICHCOMPARE(r, 0, op);
}

/* KenLM's hash_value(State): a hash of the words only (0 for the empty state). */
static Py_hash_t state_hash(PyObject *o) {
    const ngk_state *st = &((StateObject *)o)->st;
    if (st->length == 0) return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int j = 0; j < st->length; j++) {
        h ^= (uint32_t)st->words[j];
        h *= 0x100000001b3ULL;
    }
    Py_hash_t r = (Py_hash_t)(h ^ (h >> 31));
    return r == -1 ? -2 : r;
}

static PyObject *state_copy(PyObject *self, PyObject *unused) {
    StateObject *c = (StateObject *)StateType.tp_alloc(&StateType, 0);
    if (c) c->st = ((StateObject *)self)->st;
    return (PyObject *)c;
}

static PyObject *state_repr(PyObject *o) {
    return PyUnicode_FromFormat("State(length=%d)", ((StateObject *)o)->st.length);
}

static PyObject *state_length(PyObject *o, void *unused) { return PyLong_FromLong(((StateObject *)o)->st.length); }

static PyMethodDef state_methods[] = {
    {"__copy__", state_copy, METH_NOARGS, NULL},
    {"__deepcopy__", state_copy, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef state_getset[] = {
    {"length", state_length, NULL, "number of context words the next word is scored with", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ngramkit.kenlm.State",
    .tp_basicsize = sizeof(StateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A language model state (KenLM's right state): equal, ordered and hashed by its context words.",
    .tp_new = state_new,
    .tp_richcompare = state_richcompare,
    .tp_hash = state_hash,
    .tp_repr = state_repr,
    .tp_methods = state_methods,
    .tp_getset = state_getset,
};

typedef struct {
    PyObject_HEAD
    double log_prob;
    int ngram_length;
    char oov;
} FullScoreObject;

static PyTypeObject FullScoreType;

static PyObject *full_score_make(double log_prob, int ngram_length, int oov) {
    FullScoreObject *r = (FullScoreObject *)FullScoreType.tp_alloc(&FullScoreType, 0);
    if (!r) return NULL;
    r->log_prob = log_prob;
    r->ngram_length = ngram_length;
    r->oov = (char)(oov != 0);
    return (PyObject *)r;
}

static PyObject *full_score_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    double lp;
    int len, oov;
    static char *names[] = {"log_prob", "ngram_length", "oov", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "dip:FullScoreReturn", names, &lp, &len, &oov)) return NULL;
    return full_score_make(lp, len, oov);
}

static PyObject *full_score_repr(PyObject *o) {
    FullScoreObject *r = (FullScoreObject *)o;
    PyObject *lp = PyFloat_FromDouble(r->log_prob);
    if (!lp) return NULL;
    PyObject *s = PyUnicode_FromFormat("FullScoreReturn(%R, %d, %s)", lp, r->ngram_length, r->oov ? "True" : "False");
    Py_DECREF(lp);
    return s;
}

static PyMemberDef full_score_members[] = {
    {"log_prob", T_DOUBLE, offsetof(FullScoreObject, log_prob), READONLY, "log10 probability"},
    {"ngram_length", T_INT, offsetof(FullScoreObject, ngram_length), READONLY, "order of the longest matched n-gram"},
    {"oov", T_BOOL, offsetof(FullScoreObject, oov), READONLY, "the word is not in the vocabulary"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject FullScoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ngramkit.kenlm.FullScoreReturn",
    .tp_basicsize = sizeof(FullScoreObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FullScoreReturn(log_prob, ngram_length, oov): what BaseFullScore returns.",
    .tp_new = full_score_new,
    .tp_repr = full_score_repr,
    .tp_members = full_score_members,
};

typedef struct {
    PyObject_HEAD
    int attached;
    ngk_probe_index ix;
    Bufs *bufs; /* the index tables, borrowed for the object's life */
    char *blob;
    int64_t *woff;
    int32_t *wid, *wtab;
    int64_t wslots, wn, wbytes; /* the table's size, the number of words and their bytes */
    int stored; /* the words are a model file's stored vocabulary (blob, woff, wtab borrowed in bufs; wid unused) */
    int32_t unk_id, bos_id, eos_id;
    double context_only, absent;
} QueryObject;

static void query_free(QueryObject *q) {
    if (q->bufs) {
        release(q->bufs);
        PyMem_Free(q->bufs);
    }
    if (!q->stored) {
        PyMem_Free(q->blob);
        PyMem_Free(q->woff);
        PyMem_Free(q->wid);
        PyMem_Free(q->wtab);
    }
    q->stored = 0;
    q->bufs = NULL;
    q->blob = NULL;
    q->woff = NULL;
    q->wid = q->wtab = NULL;
    q->attached = 0;
}

static void query_dealloc(PyObject *o) {
    query_free((QueryObject *)o);
    Py_TYPE(o)->tp_free(o);
}

/* The part of _attach and _attach_stored before the words: the special ids checked, the old state freed,
 * the tables borrowed. 0, or -1 with an exception set (the object left detached). */
static int attach_begin(QueryObject *q, PyObject *t_tab, long long vocab, int unk, int bos, int eos, const char *fn) {
    Py_ssize_t n = PyTuple_GET_SIZE(t_tab);
    if (n < 1 || n > NGK_SCORE_MAX_ORDER || vocab < 1 || vocab > INT32_MAX || unk < 0 || unk >= vocab || bos < 0 ||
        bos >= vocab || eos < 0 || eos >= vocab) {
        PyErr_Format(PyExc_ValueError, "%s: bad orders, vocabulary size or special ids", fn);
        return -1;
    }
    query_free(q);
    q->bufs = PyMem_Malloc(sizeof(Bufs));
    if (!q->bufs) {
        PyErr_NoMemory();
        return -1;
    }
    q->bufs->n = 0;
    if (get_index(t_tab, n, vocab, 0, q->bufs, &q->ix, fn)) {
        query_free(q);
        return -1;
    }
    return 0;
}

/* The part after the words: the specials and the log10 values of <s> and of words without a unigram. */
static PyObject *attach_end(QueryObject *q, int unk, int bos, int eos, double context_only, double absent) {
    q->unk_id = unk;
    q->bos_id = bos;
    q->eos_id = eos;
    q->context_only = context_only;
    q->absent = absent;
    q->attached = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(attach_doc,
"_attach(tables, vocab, words, ids, unk_id, bos_id, eos_id, context_only, absent) -> None\n\n"
"Set up the queries: tables from probe_build (kept borrowed), vocab V, words a list of\n"
"UTF-8 bytes and ids their word ids (every other word is unk_id), context_only: the\n"
"log10 a context-only unigram (<s>) scores, absent: the log10 of a word without a unigram.");

static PyObject *query_attach(PyObject *o, PyObject *args) {
    QueryObject *q = (QueryObject *)o;
    PyObject *t_tab, *l_words, *l_ids;
    long long vocab;
    int unk, bos, eos;
    double context_only, absent;
    if (!PyArg_ParseTuple(args, "O!LO!O!iiidd:_attach", &PyTuple_Type, &t_tab, &vocab, &PyList_Type, &l_words,
                          &PyList_Type, &l_ids, &unk, &bos, &eos, &context_only, &absent))
        return NULL;
    Py_ssize_t nw = PyList_GET_SIZE(l_words);
    if (PyList_GET_SIZE(l_ids) != nw) {
        PyErr_SetString(PyExc_ValueError, "_attach: words and ids differ in length");
        return NULL;
    }
    if (attach_begin(q, t_tab, vocab, unk, bos, eos, "_attach")) return NULL;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < nw; i++) {
        PyObject *w = PyList_GET_ITEM(l_words, i);
        if (!PyBytes_Check(w)) {
            PyErr_SetString(PyExc_TypeError, "_attach: words must be bytes");
            goto fail;
        }
        total += PyBytes_GET_SIZE(w);
    }
    int64_t slots = 16;
    while (slots <= 2 * (int64_t)nw) slots <<= 1;
    q->blob = PyMem_Malloc((size_t)total + 1);
    q->woff = PyMem_Malloc(sizeof(int64_t) * (size_t)(nw + 1));
    q->wid = PyMem_Malloc(sizeof(int32_t) * (size_t)(nw ? nw : 1));
    q->wtab = PyMem_Malloc(sizeof(int32_t) * (size_t)slots);
    if (!q->blob || !q->woff || !q->wid || !q->wtab) {
        PyErr_NoMemory();
        goto fail;
    }
    q->woff[0] = 0;
    for (Py_ssize_t i = 0; i < nw; i++) {
        PyObject *w = PyList_GET_ITEM(l_words, i);
        memcpy(q->blob + q->woff[i], PyBytes_AS_STRING(w), (size_t)PyBytes_GET_SIZE(w));
        q->woff[i + 1] = q->woff[i] + PyBytes_GET_SIZE(w);
        long id = PyLong_AsLong(PyList_GET_ITEM(l_ids, i));
        if (id == -1 && PyErr_Occurred()) goto fail;
        if (id < 0 || id >= vocab) {
            PyErr_SetString(PyExc_ValueError, "_attach: word id outside 0..vocab-1");
            goto fail;
        }
        q->wid[i] = (int32_t)id;
    }
    if (ngk_vocab_build(q->blob, q->woff, nw, q->wtab, slots) != 0) {
        PyErr_SetString(PyExc_ValueError, "_attach: duplicate word");
        goto fail;
    }
    q->wslots = slots;
    q->wn = nw;
    q->wbytes = q->woff[nw];
    return attach_end(q, unk, bos, eos, context_only, absent);
fail:
    query_free(q);
    return NULL;
}

PyDoc_STRVAR(attach_stored_doc,
"_attach_stored(tables, vocab, words, offsets, index, unk_id, bos_id, eos_id, context_only, absent) -> None\n\n"
"As _attach, with the vocabulary a model file stores (kept borrowed, nothing built): words the\n"
"UTF-8 bytes of all vocab words, offsets (int64, vocab + 1) where each starts, index (int32) their\n"
"hash (vocab_build). A word whose order-1 slot is not a unigram, and unk_id itself, score as unk_id.\n"
"ValueError when the stored vocabulary's shape is not one a search can use (ngk_vocab_shape: O(1)).\n"
"Its contents are not read: every search stays inside the arrays and ends whatever they hold\n"
"(ngk_vocab_find), so a damaged file can misname words, never fault, as a damaged probing table\n"
"(probe_find). That the hash finds every word at its id is checked where asked for: ngramkit.fastppl's\n"
"open (ngk_vocab_verify, O(V)), load_model(verify=True) (the SHA-256 of every array).");

static PyObject *query_attach_stored(PyObject *o, PyObject *args) {
    QueryObject *q = (QueryObject *)o;
    PyObject *t_tab, *o_blob, *o_off, *o_index;
    long long vocab;
    int unk, bos, eos;
    double context_only, absent;
    if (!PyArg_ParseTuple(args, "O!LOOOiiidd:_attach_stored", &PyTuple_Type, &t_tab, &vocab, &o_blob, &o_off, &o_index,
                          &unk, &bos, &eos, &context_only, &absent))
        return NULL;
    if (attach_begin(q, t_tab, vocab, unk, bos, eos, "_attach_stored")) return NULL;
    Py_buffer *blob, *off, *index;
    if (!(blob = get_buf(q->bufs, o_blob, 1, "Bb", 0, "words")) || !(off = get_buf(q->bufs, o_off, 8, INT64, 0, "offsets")) ||
        !(index = get_buf(q->bufs, o_index, 4, INT32, 0, "index")))
        goto fail;
    if (off->len / 8 != vocab + 1 ||
        ngk_vocab_shape((const int64_t *)off->buf, vocab, blob->len, index->len / 4) != 0) {
        PyErr_SetString(PyExc_ValueError, "_attach_stored: the stored vocabulary is damaged");
        goto fail;
    }
    q->stored = 1;
    q->blob = (char *)blob->buf;
    q->woff = (int64_t *)off->buf;
    q->wtab = (int32_t *)index->buf;
    q->wid = NULL;
    q->wslots = index->len / 4;
    q->wn = vocab;
    q->wbytes = blob->len;
    return attach_end(q, unk, bos, eos, context_only, absent);
fail:
    query_free(q);
    return NULL;
}

static inline int query_ready(QueryObject *q) {
    if (q->attached) return 1;
    PyErr_SetString(PyExc_RuntimeError, "model is not loaded");
    return 0;
}

static inline int32_t word_id(const QueryObject *q, const char *s, Py_ssize_t len) {
    int64_t e = ngk_vocab_find(q->blob, q->wbytes, q->woff, q->wn, q->wtab, q->wslots, s, len);
    if (e < 0) return q->unk_id;
    if (q->stored) return q->ix.table[0][3 * e] == 1 ? (int32_t)e : q->unk_id; /* a unigram (<unk>'s is not) */
    return q->wid[e];
}

/* The id of a str word (KenLM's BaseScore takes str only); -1 with an exception set. */
static inline int32_t str_word_id(const QueryObject *q, PyObject *word) {
    if (!PyUnicode_Check(word)) {
        PyErr_Format(PyExc_TypeError, "Argument 'word' has incorrect type (expected str, got %.200s)",
                     Py_TYPE(word)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(word, &len);
    if (!s) return -1;
    return word_id(q, s, len);
}

static inline StateObject *state_arg(PyObject *o, const char *name) {
    if (PyObject_TypeCheck(o, &StateType)) return (StateObject *)o;
    PyErr_Format(PyExc_TypeError, "Argument '%s' has incorrect type (expected ngramkit.kenlm.State, got %.200s)", name,
                 Py_TYPE(o)->tp_name);
    return NULL;
}

static inline double query_word(const QueryObject *q, const ngk_state *in, int32_t w, ngk_state *out, int *len) {
    return ngk_probe_word(&q->ix, in, w, q->context_only, q->absent, out, len);
}

static int base_args(QueryObject *q, PyObject *const *args, Py_ssize_t nargs, const char *fn, StateObject **in,
                     int32_t *w, StateObject **out) {
    if (!query_ready(q)) return -1;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 3 arguments (in_state, word, out_state), %zd given", fn,
                     nargs);
        return -1;
    }
    if (!(*in = state_arg(args[0], "in_state")) || !(*out = state_arg(args[2], "out_state"))) return -1;
    *w = str_word_id(q, args[1]);
    return *w < 0 ? -1 : 0;
}

static PyObject *query_base_score(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
    QueryObject *q = (QueryObject *)o;
    StateObject *in, *out;
    int32_t w;
    int len;
    if (base_args(q, args, nargs, "BaseScore", &in, &w, &out)) return NULL;
    ngk_state tmp; /* in and out may be the same object */
    double p = query_word(q, &in->st, w, &tmp, &len);
    out->st = tmp;
    return PyFloat_FromDouble(p);
}

static PyObject *query_base_full_score(PyObject *o, PyObject *const *args, Py_ssize_t nargs) {
    QueryObject *q = (QueryObject *)o;
    StateObject *in, *out;
    int32_t w;
    int len;
    if (base_args(q, args, nargs, "BaseFullScore", &in, &w, &out)) return NULL;
    ngk_state tmp;
    double p = query_word(q, &in->st, w, &tmp, &len);
    out->st = tmp;
    return full_score_make(p, len, w == q->unk_id);
}

static void begin_sentence(const QueryObject *q, ngk_state *st) {
    const int64_t *uni = q->ix.table[0] + 3 * (int64_t)q->bos_id;
    st->length = q->ix.order > 1 ? 1 : 0;
    st->words[0] = q->bos_id;
    st->id[0] = q->bos_id;
    st->backoff[0] = uni[0] == 1 ? as_double_bits(uni[2]) : 0.0;
}

static PyObject *query_begin(PyObject *o, PyObject *arg) {
    QueryObject *q = (QueryObject *)o;
    StateObject *st;
    if (!query_ready(q) || !(st = state_arg(arg, "state"))) return NULL;
    begin_sentence(q, &st->st);
    Py_RETURN_NONE;
}

static PyObject *query_null(PyObject *o, PyObject *arg) {
    QueryObject *q = (QueryObject *)o;
    StateObject *st;
    if (!query_ready(q) || !(st = state_arg(arg, "state"))) return NULL;
    st->st.length = 0;
    Py_RETURN_NONE;
}

static PyObject *query_contains(PyObject *o, PyObject *word) {
    QueryObject *q = (QueryObject *)o;
    if (!query_ready(q)) return NULL;
    const char *s;
    Py_ssize_t len;
    if (PyBytes_Check(word)) {
        s = PyBytes_AS_STRING(word);
        len = PyBytes_GET_SIZE(word);
    } else if (PyUnicode_Check(word)) {
        if (!(s = PyUnicode_AsUTF8AndSize(word, &len))) return NULL;
    } else {
        PyErr_Format(PyExc_TypeError, "Cannot convert %.200s to string", Py_TYPE(word)->tp_name);
        return NULL;
    }
    return PyBool_FromLong(word_id(q, s, len) != q->unk_id);
}

static int query_sq_contains(PyObject *o, PyObject *word) {
    PyObject *r = query_contains(o, word);
    if (!r) return -1;
    int v = r == Py_True;
    Py_DECREF(r);
    return v;
}

/* The sentence as UTF-8 bytes (str or bytes, as KenLM's as_str); NULL with an exception set. */
static const char *sentence_bytes(PyObject *o, Py_ssize_t *len) {
    if (PyBytes_Check(o)) {
        *len = PyBytes_GET_SIZE(o);
        return PyBytes_AS_STRING(o);
    }
    if (PyUnicode_Check(o)) return PyUnicode_AsUTF8AndSize(o, len);
    PyErr_Format(PyExc_TypeError, "Cannot convert %.200s to string", Py_TYPE(o)->tp_name);
    return NULL;
}

static inline int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static int sentence_args(QueryObject *q, PyObject *args, PyObject *kw, const char *fmt, const char **s, Py_ssize_t *len,
                         int *bos, int *eos) {
    static char *names[] = {"sentence", "bos", "eos", NULL};
    PyObject *sentence;
    *bos = *eos = 1;
    if (!query_ready(q) || !PyArg_ParseTupleAndKeywords(args, kw, fmt, names, &sentence, bos, eos)) return -1;
    *s = sentence_bytes(sentence, len);
    return *s ? 0 : -1;
}

#define NGK_CHUNK 256 /* words looked up, then scored, at a time */

/* One (log10 prob, ngram_length, oov) triple. */
static PyObject *triple(double p, int len, int oov) {
    PyObject *t = PyTuple_New(3), *f = PyFloat_FromDouble(p), *n = PyLong_FromLong(len);
    if (!t || !f || !n) {
        Py_XDECREF(t);
        Py_XDECREF(f);
        Py_XDECREF(n);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, f);
    PyTuple_SET_ITEM(t, 1, n);
    PyTuple_SET_ITEM(t, 2, Py_NewRef(oov ? Py_True : Py_False));
    return t;
}

/* Score the words of s[0 .. len) (split at ASCII whitespace, as KenLM does), in chunks of
 * NGK_CHUNK words: ids looked up first, then scored with the probes of each word prefetched
 * while the previous one is scored. When list is not NULL, each word's triple is appended to it.
 * Returns the total (float32 sum, KenLM's), NaN with an exception set on error. */
static double score_words(const QueryObject *q, const char *s, Py_ssize_t len, int bos, int eos, PyObject *list) {
    ngk_state st;
    if (bos)
        begin_sentence(q, &st);
    else
        st.length = 0;
    float total = 0.0f; /* KenLM sums in float32 */
    int32_t ids[NGK_CHUNK + 1];
    double logp[NGK_CHUNK + 1];
    int nlen[NGK_CHUNK + 1];
    Py_ssize_t i = 0;
    for (;;) {
        int64_t m = 0;
        while (i < len && is_space(s[i])) i++;
        while (m < NGK_CHUNK && i < len) {
            Py_ssize_t a = i;
            while (i < len && !is_space(s[i])) i++;
            ids[m++] = word_id(q, s + a, i - a);
            while (i < len && is_space(s[i])) i++;
        }
        const int last = i >= len;
        if (last && eos) ids[m++] = q->eos_id;
        total = ngk_probe_words(&q->ix, &st, ids, m, -1, q->context_only, q->absent, total, list ? logp : NULL,
                                nlen);
        if (list) {
            for (int64_t j = 0; j < m; j++) {
                PyObject *t = triple(logp[j], nlen[j], ids[j] == q->unk_id);
                if (!t || PyList_Append(list, t) < 0) {
                    Py_XDECREF(t);
                    return NAN;
                }
                Py_DECREF(t);
            }
        }
        if (last) return total;
    }
}

PyDoc_STRVAR(score_doc, "score(sentence, bos=True, eos=True) -> log10 p(sentence [</s>] | [<s>])");

static PyObject *query_score(PyObject *o, PyObject *args, PyObject *kw) {
    QueryObject *q = (QueryObject *)o;
    const char *s;
    Py_ssize_t len;
    int bos, eos;
    if (sentence_args(q, args, kw, "O|pp:score", &s, &len, &bos, &eos)) return NULL;
    return PyFloat_FromDouble(score_words(q, s, len, bos, eos, NULL));
}

PyDoc_STRVAR(full_list_doc, "_full_scores_list(sentence, bos=True, eos=True) -> [(log10 prob, ngram_length, oov)]");

static PyObject *query_full_list(PyObject *o, PyObject *args, PyObject *kw) {
    QueryObject *q = (QueryObject *)o;
    const char *s;
    Py_ssize_t len;
    int bos, eos;
    if (sentence_args(q, args, kw, "O|pp:full_scores", &s, &len, &bos, &eos)) return NULL;
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    double total = score_words(q, s, len, bos, eos, list);
    if (isnan(total) && PyErr_Occurred()) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

static PyObject *query_order(PyObject *o, void *unused) {
    QueryObject *q = (QueryObject *)o;
    if (!query_ready(q)) return NULL;
    return PyLong_FromLong(q->ix.order);
}

static PyMethodDef query_methods[] = {
    {"_attach", query_attach, METH_VARARGS, attach_doc},
    {"_attach_stored", query_attach_stored, METH_VARARGS, attach_stored_doc},
    {"BaseScore", (PyCFunction)(void (*)(void))query_base_score, METH_FASTCALL,
     "BaseScore(in_state, word, out_state) -> log10 p(word | in_state); out_state receives the state after word."},
    {"BaseFullScore", (PyCFunction)(void (*)(void))query_base_full_score, METH_FASTCALL,
     "BaseFullScore(in_state, word, out_state) -> FullScoreReturn(log_prob, ngram_length, oov)."},
    {"BeginSentenceWrite", query_begin, METH_O, "BeginSentenceWrite(state): make state the sentence start (<s>)."},
    {"NullContextWrite", query_null, METH_O, "NullContextWrite(state): make state the empty context."},
    {"score", (PyCFunction)(void (*)(void))query_score, METH_VARARGS | METH_KEYWORDS, score_doc},
    {"_full_scores_list", (PyCFunction)(void (*)(void))query_full_list, METH_VARARGS | METH_KEYWORDS, full_list_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef query_getset[] = {
    {"order", query_order, NULL, "the model's order N", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods query_as_sequence = {.sq_contains = query_sq_contains};

static PyTypeObject QueryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ngramkit._score.QueryModel",
    .tp_basicsize = sizeof(QueryObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "KenLM-style queries over a backoff model's probing index (base of ngramkit.kenlm.Model).",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = query_dealloc,
    .tp_methods = query_methods,
    .tp_getset = query_getset,
    .tp_as_sequence = &query_as_sequence,
};

static PyMethodDef methods[] = {
    {"probe_build", py_probe_build, METH_VARARGS, probe_build_doc},
    {"probe_score", py_probe_score, METH_VARARGS, probe_score_doc},
    {"hash_build", py_hash_build, METH_VARARGS, hash_build_doc},
    {"vocab_build", py_vocab_build, METH_VARARGS, vocab_build_doc},
    {"stream_rows", py_stream_rows, METH_VARARGS, stream_rows_doc},
    {"hash_find", py_hash_find, METH_VARARGS, hash_find_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_score", "Backoff n-gram scoring kernel.", -1, methods};

PyMODINIT_FUNC PyInit__score(void) {
    if (PyType_Ready(&StateType) < 0 || PyType_Ready(&FullScoreType) < 0 || PyType_Ready(&QueryType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "State", (PyObject *)&StateType) < 0 ||
        PyModule_AddObjectRef(m, "FullScoreReturn", (PyObject *)&FullScoreType) < 0 ||
        PyModule_AddObjectRef(m, "QueryModel", (PyObject *)&QueryType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
