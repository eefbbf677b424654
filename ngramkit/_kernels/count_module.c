/* Python binding of the counting kernels (count.c): argument checks, buffer
 * protocol (C-contiguous int32/int64 buffers, no numpy headers), GIL released
 * around the loops. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "count.h"
#include "pybuf.h"

/* Borrow a C-contiguous 1-D integer buffer of `itemsize` bytes per element into b (NULL: exception set). */
static Py_buffer *get_buf(Bufs *b, PyObject *obj, Py_ssize_t itemsize, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    Py_buffer *view = pybuf_borrow(b, obj, flags, "%s: expected a C-contiguous%s int%d buffer", name,
                                   writable ? " writable" : "", (int)(itemsize * 8));
    if (!view) return NULL;
    if (view->itemsize != itemsize || !strchr("bhilqBHILQ", pybuf_format(view)) || view->ndim > 1) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D int%d buffer, got format '%s' itemsize %zd", name,
                     (int)(itemsize * 8), pybuf_format_str(view), view->itemsize);
        return NULL;
    }
    return view;
}

static PyObject *kernel_error(int64_t code) {
    if (code == NGK_ERR_NOMEM) return PyErr_NoMemory();
    if (code == NGK_ERR_CAPACITY) PyErr_SetString(PyExc_ValueError, "output buffer too small");
    else if (code == NGK_ERR_INDEX) PyErr_SetString(PyExc_IndexError, "index out of range");
    else if (code == NGK_ERR_TOO_BIG) PyErr_SetString(PyExc_ValueError, "too many distinct words (over 2^31)");
    else PyErr_Format(PyExc_RuntimeError, "counting kernel failed with code %lld", (long long)code);
    return NULL;
}

PyDoc_STRVAR(scan_doc,
"scan(data, ids_out, ends_out) -> (n_tokens, n_sentences, words, counts)\n\n"
"Split UTF-8 bytes into lines and words exactly like str.splitlines() and\n"
"str.split(). ids_out (int32) receives provisional word ids (1.. in first-seen\n"
"order) with 0 closing each non-empty line; ends_out (int64) the end of each\n"
"sentence in ids_out. words: list of the distinct words as str (None if one is\n"
"not valid UTF-8); counts: bytes holding their int64 counts.");

static PyObject *py_scan(PyObject *self, PyObject *args) {
    PyObject *o_data, *o_ids, *o_ends;
    if (!PyArg_ParseTuple(args, "OOO:scan", &o_data, &o_ids, &o_ends)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *data, *ids, *ends;
    if (!(data = pybuf_borrow(&bf, o_data, PyBUF_C_CONTIGUOUS, NULL)) || !(ids = get_buf(&bf, o_ids, 4, 1, "ids_out")) ||
        !(ends = get_buf(&bf, o_ends, 8, 1, "ends_out"))) {
        release(&bf);
        return NULL;
    }
    ngk_words words;
    int64_t n_tokens, n_sent = 0;
    Py_BEGIN_ALLOW_THREADS
    n_tokens = ngk_scan((const uint8_t *)data->buf, data->len, (int32_t *)ids->buf, ids->len / 4,
                        (int64_t *)ends->buf, ends->len / 8, &n_sent, &words);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL, *list = NULL, *counts = NULL;
    if (n_tokens < 0) {
        kernel_error(n_tokens);
        goto done;
    }
    counts = PyBytes_FromStringAndSize((const char *)words.count, (Py_ssize_t)(words.n * 8));
    if (!counts) goto done;
    list = PyList_New((Py_ssize_t)words.n);
    if (!list) goto done;
    const char *base = (const char *)data->buf;
    for (int64_t i = 0; i < words.n; i++) {
        PyObject *w = PyUnicode_DecodeUTF8(base + words.start[i], words.len[i], "strict");
        if (!w) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) goto done;
            PyErr_Clear();
            Py_SETREF(list, Py_NewRef(Py_None));
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, w);
    }
    result = Py_BuildValue("LLOO", (long long)n_tokens, (long long)n_sent, list, counts);
done:
    Py_XDECREF(list);
    Py_XDECREF(counts);
    ngk_words_free(&words);
    release(&bf);
    return result;
}

PyDoc_STRVAR(take_doc,
"take(idx, table, out) -> None\n\n"
"out[i] = table[idx[i]] for an int32 idx; table and out both int32 or both 1-byte.");

static PyObject *py_take(PyObject *self, PyObject *args) {
    PyObject *o_idx, *o_table, *o_out;
    if (!PyArg_ParseTuple(args, "OOO:take", &o_idx, &o_table, &o_out)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *idx, *table, *out;
    PyObject *result = NULL;
    Py_ssize_t item;
    if (!(out = pybuf_borrow(&bf, o_out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE, NULL))) goto done;
    item = out->itemsize;
    if (item != 1 && item != 4) {
        PyErr_SetString(PyExc_TypeError, "take: out must hold int32 or 1-byte items");
        goto done;
    }
    if (!(idx = get_buf(&bf, o_idx, 4, 0, "idx")) || !(table = get_buf(&bf, o_table, item, 0, "table")) ||
        !(out = get_buf(&bf, o_out, item, 1, "out")))
        goto done;
    int64_t n = idx->len / 4;
    if (out->len / item != n) {
        PyErr_SetString(PyExc_ValueError, "take: out must have the length of idx");
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    if (item == 4) rc = ngk_take32((const int32_t *)idx->buf, n, (const int32_t *)table->buf, table->len / 4, (int32_t *)out->buf);
    else rc = ngk_take8((const int32_t *)idx->buf, n, (const uint8_t *)table->buf, table->len, (uint8_t *)out->buf);
    Py_END_ALLOW_THREADS
    if (rc) kernel_error(rc);
    else result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(pad_doc,
"pad(ids, offsets, bos, out) -> None\n\n"
"Write every sentence ids[offsets[i]:offsets[i+1]] preceded by bos into out\n"
"(int32, len(ids) + len(offsets) - 1).");

static PyObject *py_pad(PyObject *self, PyObject *args) {
    PyObject *o_ids, *o_off, *o_out;
    int bos;
    if (!PyArg_ParseTuple(args, "OOiO:pad", &o_ids, &o_off, &bos, &o_out)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *ids, *off, *out;
    PyObject *result = NULL;
    if (!(ids = get_buf(&bf, o_ids, 4, 0, "ids")) || !(off = get_buf(&bf, o_off, 8, 0, "offsets")) ||
        !(out = get_buf(&bf, o_out, 4, 1, "out")))
        goto done;
    int64_t n = ids->len / 4, n_sent = off->len / 8 - 1;
    const int64_t *o = (const int64_t *)off->buf;
    int ok = n_sent >= 0 && out->len / 4 == n + n_sent && o[0] == 0 && o[n_sent] == n;
    for (int64_t s = 0; ok && s < n_sent; s++) ok = o[s] <= o[s + 1];
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "pad: offsets must rise from 0 to len(ids); out must hold len(ids) + sentences");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    ngk_pad((const int32_t *)ids->buf, o, n_sent, (int32_t)bos, (int32_t *)out->buf);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(count_step_doc,
"count_step(tok, offsets, k, rows, parent_out, last_out, count_out, size_hint) -> m\n\n"
"Count the k-grams of the padded stream tok (int32) whose sentences are\n"
"tok[offsets[i]:offsets[i+1]] (int64). rows (int32) holds the provisional row\n"
"of the (k-1)-gram starting at each position and is updated in place to the\n"
"row of the k-gram. The m distinct k-grams, in first-seen order, get their\n"
"parent row, last word and count in parent_out, last_out (int32), count_out (int64).");

static PyObject *py_count_step(PyObject *self, PyObject *args) {
    PyObject *o_tok, *o_off, *o_rows, *o_par, *o_last, *o_cnt;
    int k;
    long long hint;
    if (!PyArg_ParseTuple(args, "OOiOOOOL:count_step", &o_tok, &o_off, &k, &o_rows, &o_par, &o_last, &o_cnt, &hint))
        return NULL;
    Bufs bf = BUFS_INIT;
    PyObject *objs[6] = {o_tok, o_off, o_rows, o_par, o_last, o_cnt};
    const Py_ssize_t sizes[6] = {4, 8, 4, 4, 4, 8};
    const int writable[6] = {0, 0, 1, 1, 1, 1};
    const char *names[6] = {"tok", "offsets", "rows", "parent_out", "last_out", "count_out"};
    PyObject *result = NULL;
    for (int i = 0; i < 6; i++)
        if (!get_buf(&bf, objs[i], sizes[i], writable[i], names[i])) goto done;
    Py_buffer *b = bf.v;
    int64_t n = b[0].len / 4, n_sent = b[1].len / 8 - 1;
    const int64_t *o = (const int64_t *)b[1].buf;
    int ok = k >= 2 && n_sent >= 0 && b[2].len / 4 == n && o[0] == 0 && o[n_sent] == n;
    for (int64_t s = 0; ok && s < n_sent; s++) ok = o[s] <= o[s + 1];
    int64_t cap = b[3].len / 4;
    if (!ok || b[4].len / 4 != cap || b[5].len / 8 != cap) {
        PyErr_SetString(PyExc_ValueError,
                        "count_step: need k >= 2, offsets rising from 0 to len(tok), len(rows) == len(tok), "
                        "equal output lengths");
        goto done;
    }
    int64_t m;
    Py_BEGIN_ALLOW_THREADS
    m = ngk_count_step((const int32_t *)b[0].buf, o, n_sent, k, (int32_t *)b[2].buf, (int32_t *)b[3].buf,
                       (int32_t *)b[4].buf, (int64_t *)b[5].buf, cap, (int64_t)hint);
    Py_END_ALLOW_THREADS
    if (m < 0) kernel_error(m);
    else result = PyLong_FromLongLong((long long)m);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(sort_rows_doc,
"sort_rows(parent, last, rank, v, perm_out, sparent_out, slast_out) -> None\n\n"
"Lexicographic order of n-gram rows given as (parent row, last word), int32:\n"
"sorted by (rank[parent], last) with rank (int64) mapping parent rows to sorted\n"
"rows of the order below; writes the permutation (int32), sorted parent ranks\n"
"(int64) and last words (int32). Two counting sorts, O(m + v + len(rank)).");

static PyObject *py_sort_rows(PyObject *self, PyObject *args) {
    PyObject *objs[7];
    long long v;
    if (!PyArg_ParseTuple(args, "OOOLOOO:sort_rows", &objs[0], &objs[1], &objs[2], &v, &objs[3], &objs[4], &objs[5]))
        return NULL;
    Bufs bf = BUFS_INIT;
    const Py_ssize_t sizes[6] = {4, 4, 8, 4, 8, 4};
    const int writable[6] = {0, 0, 0, 1, 1, 1};
    const char *names[6] = {"parent", "last", "rank", "perm_out", "sparent_out", "slast_out"};
    PyObject *result = NULL;
    for (int i = 0; i < 6; i++)
        if (!get_buf(&bf, objs[i], sizes[i], writable[i], names[i])) goto done;
    Py_buffer *b = bf.v;
    int64_t m = b[0].len / 4;
    if (v < 1 || b[1].len / 4 != m || b[3].len / 4 != m || b[4].len / 8 != m || b[5].len / 4 != m) {
        PyErr_SetString(PyExc_ValueError, "sort_rows: parent, last and the outputs need equal lengths, v >= 1");
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_sort_rows((const int32_t *)b[0].buf, (const int32_t *)b[1].buf, m, (const int64_t *)b[2].buf,
                       b[2].len / 8, (int64_t)v, (int32_t *)b[3].buf, (int64_t *)b[4].buf, (int32_t *)b[5].buf);
    Py_END_ALLOW_THREADS
    if (rc) kernel_error(rc);
    else result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(count_packed_doc,
"count_packed(ids, offsets, bos, order, bits, v) -> (state, sizes)\n\n"
"Count every n-gram of orders 1..order of the unpadded stream ids (int32,\n"
"ids < v <= 2^bits, bits * order <= 63) whose sentences are\n"
"ids[offsets[i]:offsets[i+1]] (int64), each read as <s>=bos w1 .. wn. Only the\n"
"top order is hashed; lower orders are derived from its distinct rows. sizes:\n"
"tuple of the distinct n-grams per order 1..order; state: pass it to packed_fill.");

static void packed_destroy(PyObject *capsule) {
    ngk_packed *st = PyCapsule_GetPointer(capsule, "ngramkit._count.packed");
    if (st) {
        ngk_packed_free(st);
        PyMem_Free(st);
    }
}

static PyObject *py_count_packed(PyObject *self, PyObject *args) {
    PyObject *o_ids, *o_off;
    int bos, order, bits;
    long long v;
    if (!PyArg_ParseTuple(args, "OOiiiL:count_packed", &o_ids, &o_off, &bos, &order, &bits, &v)) return NULL;
    if (order < 2 || order > NGK_MAX_ORDER || bits < 1 || bits * order > 63 || v < 1 || v > (1LL << bits) ||
        bos < 0 || bos >= v) {
        PyErr_Format(PyExc_ValueError, "count_packed: need 2 <= order <= %d, bits * order <= 63, "
                     "1 <= v <= 2^bits and 0 <= bos < v", NGK_MAX_ORDER);
        return NULL;
    }
    Bufs bf = BUFS_INIT;
    Py_buffer *ids, *off;
    PyObject *result = NULL, *capsule = NULL;
    ngk_packed *st = NULL;
    if (!(ids = get_buf(&bf, o_ids, 4, 0, "ids")) || !(off = get_buf(&bf, o_off, 8, 0, "offsets"))) goto done;
    int64_t n = ids->len / 4, n_sent = off->len / 8 - 1;
    const int64_t *o = (const int64_t *)off->buf;
    int ok = n_sent >= 0 && o[0] == 0 && o[n_sent] == n;
    for (int64_t s = 0; ok && s < n_sent; s++) ok = o[s] <= o[s + 1];
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "count_packed: offsets must rise from 0 to len(ids)");
        goto done;
    }
    st = PyMem_Calloc(1, sizeof *st);
    if (!st) {
        PyErr_NoMemory();
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_count_packed((const int32_t *)ids->buf, o, n_sent, (int32_t)bos, order, bits, (int64_t)v, st);
    Py_END_ALLOW_THREADS
    if (rc) {
        if (rc == NGK_ERR_INDEX) PyErr_Format(PyExc_IndexError, "count_packed: an id is outside [0, %lld)", v);
        else kernel_error(rc);
        PyMem_Free(st);
        goto done;
    }
    capsule = PyCapsule_New(st, "ngramkit._count.packed", packed_destroy);
    if (!capsule) {
        ngk_packed_free(st);
        PyMem_Free(st);
        goto done;
    }
    PyObject *sizes = PyTuple_New(order);
    if (!sizes) goto done;
    for (int j = 1; j <= order; j++) {
        PyObject *x = PyLong_FromLongLong((long long)st->m[j]);
        if (!x) {
            Py_DECREF(sizes);
            goto done;
        }
        PyTuple_SET_ITEM(sizes, j - 1, x);
    }
    result = PyTuple_Pack(2, capsule, sizes);
    Py_DECREF(sizes);
done:
    Py_XDECREF(capsule);
    release(&bf);
    return result;
}

PyDoc_STRVAR(packed_fill_doc,
"packed_fill(state, j, grams_out, counts_out, parent_out, keys_out) -> None\n\n"
"Write order j of a count_packed state: the sorted distinct j-grams (int32,\n"
"sizes[j-1] * j values, row-major), their counts, the row of their prefix\n"
"in order j-1 (0 for j = 1) and their keys parent * v + last word (int64).");

static PyObject *py_packed_fill(PyObject *self, PyObject *args) {
    PyObject *capsule, *objs[4];
    int j;
    if (!PyArg_ParseTuple(args, "OiOOOO:packed_fill", &capsule, &j, &objs[0], &objs[1], &objs[2], &objs[3]))
        return NULL;
    if (!PyCapsule_IsValid(capsule, "ngramkit._count.packed")) {
        PyErr_SetString(PyExc_TypeError, "packed_fill: state must be the first item count_packed returned");
        return NULL;
    }
    ngk_packed *st = PyCapsule_GetPointer(capsule, "ngramkit._count.packed");
    if (j < 1 || j > st->order) {
        PyErr_Format(PyExc_ValueError, "packed_fill: order %d not in 1..%d", j, st->order);
        return NULL;
    }
    Bufs bf = BUFS_INIT;
    const Py_ssize_t sizes[4] = {4, 8, 8, 8};
    const char *names[4] = {"grams_out", "counts_out", "parent_out", "keys_out"};
    PyObject *result = NULL;
    for (int i = 0; i < 4; i++)
        if (!get_buf(&bf, objs[i], sizes[i], 1, names[i])) goto done;
    Py_buffer *b = bf.v;
    int64_t m = st->m[j];
    if (b[0].len / 4 != m * j || b[1].len / 8 != m || b[2].len / 8 != m || b[3].len / 8 != m) {
        PyErr_SetString(PyExc_ValueError, "packed_fill: outputs must hold sizes[j-1] * j grams and sizes[j-1] counts/parents");
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_packed_fill(st, j, (int32_t *)b[0].buf, (int64_t *)b[1].buf, (int64_t *)b[2].buf, (int64_t *)b[3].buf);
    Py_END_ALLOW_THREADS
    if (rc) kernel_error(rc);
    else result = Py_NewRef(Py_None);
done:
    release(&bf);
    return result;
}

PyDoc_STRVAR(gather_doc,
"gather(src, starts, lens) -> bytes\n\n"
"Concatenate src[starts[i]:starts[i]+lens[i]] for every i: src a 1-D byte buffer,\n"
"starts and lens int32 buffers of one length (lens >= 0).");

static PyObject *py_gather(PyObject *self, PyObject *args) {
    PyObject *o_src, *o_starts, *o_lens;
    if (!PyArg_ParseTuple(args, "OOO:gather", &o_src, &o_starts, &o_lens)) return NULL;
    Bufs bf = BUFS_INIT;
    Py_buffer *src, *starts, *lens;
    PyObject *result = NULL;
    if (!(src = get_buf(&bf, o_src, 1, 0, "src")) || !(starts = get_buf(&bf, o_starts, 4, 0, "starts")) ||
        !(lens = get_buf(&bf, o_lens, 4, 0, "lens")))
        goto done;
    const int64_t n = starts->len / 4;
    const int32_t *ln = (const int32_t *)lens->buf;
    int64_t total = 0;
    if (lens->len / 4 != n) {
        PyErr_SetString(PyExc_ValueError, "gather: starts and lens must have the same length");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (ln[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "gather: negative segment length");
            goto done;
        }
        total += ln[i];
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (!result) goto done;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ngk_gather((const uint8_t *)src->buf, src->len, (const int32_t *)starts->buf, ln, n,
                    (uint8_t *)PyBytes_AS_STRING(result), total);
    Py_END_ALLOW_THREADS
    if (rc) {
        Py_CLEAR(result);
        kernel_error(rc);
    }
done:
    release(&bf);
    return result;
}

static PyMethodDef methods[] = {
    {"gather", py_gather, METH_VARARGS, gather_doc},
    {"count_packed", py_count_packed, METH_VARARGS, count_packed_doc},
    {"packed_fill", py_packed_fill, METH_VARARGS, packed_fill_doc},
    {"sort_rows", py_sort_rows, METH_VARARGS, sort_rows_doc},
    {"scan", py_scan, METH_VARARGS, scan_doc},
    {"take", py_take, METH_VARARGS, take_doc},
    {"pad", py_pad, METH_VARARGS, pad_doc},
    {"count_step", py_count_step, METH_VARARGS, count_step_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_count",
    "C kernels for n-gram counting: word scanning, padding, hash-table counting.", -1, methods,
};

PyMODINIT_FUNC PyInit__count(void) { return PyModule_Create(&module); }
