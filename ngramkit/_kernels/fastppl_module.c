/* Python binding of `ngramkit ppl`'s fast path (fastppl.c): the model file mapped, the text read block by block.
 *
 * open_model(path) -> None | (model, meta_json_bytes, {member name: (descr, shape, start, nbytes)})
 *     The headers are read with pread, the arrays mapped (none of their pages touched).
 *     None: the file is not laid out as ngramkit writes it (or cannot be opened or mapped): the caller leaves it
 *     to the normal path. meta.json's CRC-32 is checked here.
 * open_query(path) -> None | (model, vocab, suffix_closed, probes, words, offsets, index)
 *     A model file that ends with a query header (fastppl.h, ngk_query_header): mapped, the header's spans
 *     returned ((start, n) as open_model's callers pass them on), nothing else read. None: no such header, or
 *     one that does not fit the file.
 * model.attach(words, probes, suffix_closed, counts) -> bool
 *     words: the vocabulary (list of str; version-1 files keep it in meta.json); probes: ((start, n_int64), ...)
 *     per order, in the mapping; counts: (start, n) of the int64 vocabulary counts. False: duplicate words or a
 *     negative count.
 * model.attach_stored(probes, suffix_closed, counts, words, offsets, index) -> bool
 *     The same with the vocabulary a version-2 file stores: words (start, bytes), offsets (start, V + 1 int64),
 *     index (start, slots int32), all in the mapping and used in place (nothing is built: the open costs the
 *     same whatever the vocabulary's size). False: a span outside the file or a damaged vocabulary.
 * model.score(paths, ln10, stdin_limit) -> ("ok", tokens, sentences, oovs, zeroprobs, [sum10], [sum10_iv])
 *                                      | ("decline", replay)
 *     Reads every path ("-": standard input) in blocks of 1 MiB cut at line ends, as ngramkit.scan.file_blocks
 *     does, and scores each block (ngk_fast_block). "decline": something the normal path must handle (not a
 *     regular file, compressed, binary, not UTF-8, no tokens, ...); replay holds the bytes read from standard
 *     input so far (None when it was not read), for the normal path to read them again. Standard input longer
 *     than stdin_limit bytes is declined as soon as that is known. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fastppl.h"

#define BLOCK (1 << 20)  /* ngramkit.sources.CHUNK_BYTES */
#define SNIFF 8192       /* ngramkit.text._BINARY_SNIFF */
#define MAX_MEMBERS 256

typedef struct {
    PyObject_HEAD
    uint8_t *map;
    int64_t size;
    ngk_probe_index ix;
    int attached;
    ngk_fast_model m;
    char *blob;
    int64_t *offsets;
    int32_t *table;
} FastModel;

static void fast_dealloc(PyObject *o) {
    FastModel *f = (FastModel *)o;
    if (f->map) munmap(f->map, (size_t)f->size);
    free(f->blob);
    free(f->offsets);
    free(f->table);
    Py_TYPE(o)->tp_free(o);
}

/* ---- attach ---------------------------------------------------------------------------------------------- */

static int in_map(FastModel *f, long long start, long long bytes) {
    return start >= 0 && bytes >= 0 && start % 8 == 0 && start <= f->size && bytes <= f->size - start;
}

/* The probing tables and the vocabulary counts of a V-word model: 1 set, 0 not as ngramkit writes them,
 * -1 exception set. */
static int attach_tables(FastModel *f, Py_ssize_t v, PyObject *probes, long long c_start, long long c_n) {
    Py_ssize_t order = PyTuple_GET_SIZE(probes);
    if (f->attached || v < 4 || v > INT32_MAX || order < 1 || order > NGK_SCORE_MAX_ORDER || c_n != v ||
        !in_map(f, c_start, 8 * c_n))
        return 0;
    const int64_t *counts = (const int64_t *)(f->map + c_start);
    for (Py_ssize_t i = 0; i < v; i++)
        if (counts[i] < 0) return 0;
    memset(&f->ix, 0, sizeof f->ix);
    f->ix.order = (int)order;
    f->ix.vocab = v;
    for (Py_ssize_t k = 0; k < order; k++) {
        long long start, n;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(probes, k), "LL", &start, &n)) return -1;
        int64_t stride = NGK_PROBE_STRIDE(k + 1, order);
        if (!in_map(f, start, 8 * n) || n % stride != 0 || (k == 0 ? n != 3 * v : n / stride < 1)) return 0;
        f->ix.table[k] = (int64_t *)(f->map + start);
        f->ix.n_slots[k] = n / stride;
    }
    return 1;
}

static PyObject *fast_attach(PyObject *o, PyObject *args) {
    FastModel *f = (FastModel *)o;
    PyObject *words, *probes;
    int suffix_closed;
    long long c_start, c_n;
    if (!PyArg_ParseTuple(args, "O!O!p(LL):attach", &PyList_Type, &words, &PyTuple_Type, &probes, &suffix_closed,
                          &c_start, &c_n))
        return NULL;
    Py_ssize_t v = PyList_GET_SIZE(words);
    int got = attach_tables(f, v, probes, c_start, c_n);
    if (got <= 0) {
        if (got < 0) return NULL;
        Py_RETURN_FALSE;
    }
    /* The vocabulary: a blob of UTF-8 words and a hash of them (score.c's ngk_vocab_build). */
    f->offsets = malloc(((size_t)v + 1) * sizeof *f->offsets);
    if (!f->offsets) return PyErr_NoMemory();
    int64_t total = 0;
    f->offsets[0] = 0;
    for (Py_ssize_t i = 0; i < v; i++) {
        Py_ssize_t len;
        PyObject *w = PyList_GET_ITEM(words, i);
        if (!PyUnicode_Check(w) || !PyUnicode_AsUTF8AndSize(w, &len)) {
            PyErr_Clear(); /* not a str, or a lone surrogate: the normal path says what is wrong */
            Py_RETURN_FALSE;
        }
        total += len;
        f->offsets[i + 1] = total;
    }
    f->blob = malloc((size_t)total + 1);
    int64_t slots = 16;
    while (slots < 2 * v) slots *= 2;
    f->table = malloc((size_t)slots * sizeof *f->table);
    if (!f->blob || !f->table) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < v; i++) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(words, i), &len);
        memcpy(f->blob + f->offsets[i], s, (size_t)len);
    }
    if (ngk_vocab_build(f->blob, f->offsets, v, f->table, slots) != 0) Py_RETURN_FALSE; /* duplicates */
    f->m = (ngk_fast_model){&f->ix, suffix_closed, f->blob, f->offsets, f->table, slots, 0, 1, 2};
    f->attached = 1;
    Py_RETURN_TRUE;
}

/* The vocabulary as a model file stores it (vocab.words, vocab.offsets, vocab.index): used in place. */
static PyObject *fast_attach_stored(PyObject *o, PyObject *args) {
    FastModel *f = (FastModel *)o;
    PyObject *probes;
    int suffix_closed;
    long long c_start, c_n, w_start, w_n, o_start, o_n, i_start, i_n;
    if (!PyArg_ParseTuple(args, "O!p(LL)(LL)(LL)(LL):attach_stored", &PyTuple_Type, &probes, &suffix_closed, &c_start,
                          &c_n, &w_start, &w_n, &o_start, &o_n, &i_start, &i_n))
        return NULL;
    Py_ssize_t v = (Py_ssize_t)c_n;
    /* in_map: inside the file and 8-byte aligned (.npy data is 64-aligned); the words' bytes need no alignment */
    if (o_n != v + 1 || !in_map(f, o_start, 8 * o_n) || !in_map(f, i_start, 4 * i_n) || w_start < 0 || w_n < 0 ||
        w_start > f->size || w_n > f->size - w_start)
        Py_RETURN_FALSE;
    const int64_t *offsets = (const int64_t *)(f->map + o_start);
    const int32_t *table = (const int32_t *)(f->map + i_start);
    const char *blob = (const char *)(f->map + w_start);
    /* What the normal path would refuse (a word that is not UTF-8, duplicates) or read differently (a word the
     * hash does not find at its id) is declined: then both paths agree on every file the fast path accepts. */
    if (ngk_vocab_check(offsets, v, w_n, table, i_n) != 0 || !ngk_utf8_valid((const uint8_t *)blob, w_n) ||
        ngk_vocab_verify(blob, offsets, v, table, i_n) != 0)
        Py_RETURN_FALSE;
    int got = attach_tables(f, v, probes, c_start, c_n);
    if (got <= 0) {
        if (got < 0) return NULL;
        Py_RETURN_FALSE;
    }
    f->m = (ngk_fast_model){&f->ix, suffix_closed, blob, offsets, table, i_n, 0, 1, 2};
    f->attached = 1;
    Py_RETURN_TRUE;
}

/* ---- score ----------------------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *buf;
    int64_t len, cap;
} Bytes;

static int reserve(Bytes *b, int64_t more) {
    if (b->len + more <= b->cap) return 0;
    int64_t cap = b->cap ? b->cap : BLOCK;
    while (cap < b->len + more) cap *= 2;
    uint8_t *p = realloc(b->buf, (size_t)cap);
    if (!p) return -1;
    b->buf = p;
    b->cap = cap;
    return 0;
}

/* Read up to `want` bytes (fewer only at the end of the data); -1 on a read error. */
static int64_t read_full(int fd, uint8_t *dst, int64_t want) {
    int64_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, dst + got, (size_t)(want - got));
        if (r < 0 && errno == EINTR) {
            if (PyErr_CheckSignals() < 0) return -2;
            continue;
        }
        if (r < 0) return -1;
        if (r == 0) break;
        got += r;
    }
    return got;
}

static const char *const UNSUPPORTED[] = {"PK\x03\x04", "\x28\xb5\x2f\xfd", "\x89PNG", "%PDF", "\x7f" "ELF",
                                          "\x93NUMPY"};
static const char *const COMPRESSED[] = {"\x1f\x8b", "BZh", "\xfd" "7zXZ"};

enum { OK = 0, DECLINE = 1, FAIL = 2 }; /* FAIL: a Python exception is set */

typedef struct {
    int64_t tokens, sentences, oovs, zeroprobs;
    PyObject *sums, *sums_iv;
} Totals;

static int add_block(FastModel *f, const uint8_t *data, int64_t n, double ln10, Totals *t, int *got) {
    ngk_fast_totals bt;
    int rc = ngk_fast_block(&f->m, data, n, ln10, &bt);
    if (rc == NGK_FAST_NOMEM) {
        PyErr_NoMemory();
        return FAIL;
    }
    if (rc) return DECLINE;
    if (bt.tokens == 0) return OK; /* a block of blank lines: no chunk (Source.chunks skips it) */
    *got = 1;
    t->tokens += bt.tokens;
    t->sentences += bt.sentences;
    t->oovs += bt.oovs;
    t->zeroprobs += bt.zeroprobs;
    PyObject *a = PyFloat_FromDouble(bt.sum10), *b = PyFloat_FromDouble(bt.sum10_iv);
    int bad = !a || !b || PyList_Append(t->sums, a) || PyList_Append(t->sums_iv, b);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return bad ? FAIL : OK;
}

/* One source, block by block (ngramkit.scan.file_blocks + scan_blocks). keep: standard input's bytes, kept for
 * a replay (NULL for a file). */
static int score_source(FastModel *f, int fd, double ln10, int64_t stdin_limit, Bytes *keep, Totals *t) {
    Bytes buf = {0};
    int status = DECLINE, got = 0, first = 1;
    int64_t offset = 0, nul_checked = 0;
    for (;;) {
        /* buf holds the carry (an unfinished line); append the next block's bytes */
        if (reserve(&buf, BLOCK)) { PyErr_NoMemory(); status = FAIL; goto done; }
        int64_t r = read_full(fd, buf.buf + buf.len, BLOCK);
        if (r == -2) { status = FAIL; goto done; }
        if (r < 0) goto done; /* a read error: the normal path names it */
        if (keep) {
            if (keep->len + r > stdin_limit || reserve(keep, r)) goto done;
            memcpy(keep->buf + keep->len, buf.buf + buf.len, (size_t)r);
            keep->len += r;
        }
        if (first) {
            int64_t have = buf.len + r;
            for (size_t i = 0; i < sizeof COMPRESSED / sizeof *COMPRESSED; i++)
                if (have >= (int64_t)strlen(COMPRESSED[i]) && !memcmp(buf.buf, COMPRESSED[i], strlen(COMPRESSED[i])))
                    goto done;
        }
        int64_t fresh = buf.len;
        buf.len += r;
        if (r == 0 && fresh == 0) break;
        /* The binary sniff: magic bytes at the start, a NUL byte in the first 8 kB of the source. */
        for (int64_t i = nul_checked - offset; i < buf.len && offset + i < SNIFF; i++)
            if (buf.buf[i] == 0) goto done;
        nul_checked = offset + buf.len;
        int64_t cut = buf.len;
        if (r > 0) {
            while (cut > 0 && buf.buf[cut - 1] != '\n') cut--;
            if (cut == 0) continue; /* no line end yet: read on (the carry grows) */
        }
        const uint8_t *data = buf.buf;
        int64_t n = cut;
        if (first) {
            for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof *UNSUPPORTED; i++)
                if (n >= (int64_t)strlen(UNSUPPORTED[i]) && !memcmp(data, UNSUPPORTED[i], strlen(UNSUPPORTED[i])))
                    goto done;
            if (n >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) { data += 3; n -= 3; } /* a byte-order mark */
            first = 0;
        }
        int rc = add_block(f, data, n, ln10, t, &got);
        if (rc != OK) { status = rc; goto done; }
        offset += cut;
        memmove(buf.buf, buf.buf + cut, (size_t)(buf.len - cut));
        buf.len -= cut;
        if (PyErr_CheckSignals() < 0) { status = FAIL; goto done; }
        if (r == 0) break;
    }
    status = got ? OK : DECLINE; /* no tokens: the normal path's "no tokens (empty file?)" */
done:
    free(buf.buf);
    return status;
}

static PyObject *fast_score(PyObject *o, PyObject *args) {
    FastModel *f = (FastModel *)o;
    PyObject *paths;
    double ln10;
    long long stdin_limit;
    if (!PyArg_ParseTuple(args, "O!dL:score", &PyList_Type, &paths, &ln10, &stdin_limit)) return NULL;
    if (!f->attached) {
        PyErr_SetString(PyExc_RuntimeError, "score: attach() first");
        return NULL;
    }
    Totals t = {0, 0, 0, 0, PyList_New(0), PyList_New(0)};
    Bytes keep = {0};
    int used_stdin = 0, status = OK;
    PyObject *result = NULL;
    if (!t.sums || !t.sums_iv) goto out;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(paths) && status == OK; i++) {
        PyObject *p = PyList_GET_ITEM(paths, i);
        const char *path = PyUnicode_Check(p) ? PyUnicode_AsUTF8(p) : NULL;
        if (!path) { PyErr_Clear(); status = DECLINE; break; }
        if (!strcmp(path, "-")) {
            used_stdin = 1;
            status = score_source(f, 0, ln10, stdin_limit, &keep, &t);
            continue;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
            status = DECLINE;
        } else {
            status = score_source(f, fd, ln10, stdin_limit, NULL, &t);
        }
        if (fd >= 0) close(fd);
    }
    if (status == FAIL) goto out;
    if (status == DECLINE) {
        PyObject *replay = used_stdin ? PyBytes_FromStringAndSize((const char *)keep.buf, keep.len) : Py_NewRef(Py_None);
        if (replay) result = Py_BuildValue("(sN)", "decline", replay);
        goto out;
    }
    result = Py_BuildValue("(sLLLLOO)", "ok", (long long)t.tokens, (long long)t.sentences, (long long)t.oovs,
                           (long long)t.zeroprobs, t.sums, t.sums_iv);
out:
    free(keep.buf);
    Py_XDECREF(t.sums);
    Py_XDECREF(t.sums_iv);
    return result;
}

static PyObject *fast_view(PyObject *o, PyObject *unused) {
    FastModel *f = (FastModel *)o;
    return PyMemoryView_FromMemory((char *)f->map, f->size, PyBUF_READ); /* the caller keeps f alive with it */
}

static PyMethodDef fast_methods[] = {
    {"view", fast_view, METH_NOARGS, "view() -> memoryview of the mapped file (read-only; keep the model alive)"},
    {"attach", fast_attach, METH_VARARGS, "attach(words, probes, suffix_closed, counts) -> bool"},
    {"attach_stored", fast_attach_stored, METH_VARARGS,
     "attach_stored(probes, suffix_closed, counts, words, offsets, index) -> bool (each a (start, n) span)"},
    {"score", fast_score, METH_VARARGS, "score(paths, ln10, stdin_limit) -> ('ok', ...) | ('decline', replay)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FastModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ngramkit._fastppl.FastModel",
    .tp_basicsize = sizeof(FastModel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = fast_dealloc,
    .tp_methods = fast_methods,
    .tp_doc = "A native model file mapped for the fast path of `ngramkit ppl`.",
};

/* ---- open_model ------------------------------------------------------------------------------------------ */

/* fastppl.h's ngk_read_fn by pread: two buffers; slot 1 reads at least READ_AHEAD bytes and serves later
 * requests inside them (a member's local header and its .npy header come from one read). */
#define READ_AHEAD 4096

typedef struct {
    int fd;
    int64_t size;
    uint8_t *buf[2];
    int64_t cap[2], at[2], len[2];
} Reader;

static const uint8_t *read_at(void *ctx, int slot, int64_t off, int64_t len) {
    Reader *r = (Reader *)ctx;
    if (off < 0 || len < 0 || off > r->size || len > r->size - off) return NULL;
    if (off >= r->at[slot] && off + len <= r->at[slot] + r->len[slot]) return r->buf[slot] + (off - r->at[slot]);
    int64_t want = len, avail = r->size - off;
    if (slot == 1 && want < READ_AHEAD) want = READ_AHEAD < avail ? READ_AHEAD : avail;
    if (want > r->cap[slot]) {
        uint8_t *b = realloc(r->buf[slot], (size_t)want);
        if (!b) return NULL;
        r->buf[slot] = b;
        r->cap[slot] = want;
    }
    int64_t got = 0;
    while (got < want) {
        ssize_t k = pread(r->fd, r->buf[slot] + got, (size_t)(want - got), (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            r->len[slot] = 0;
            return NULL;
        }
        got += k;
    }
    r->at[slot] = off;
    r->len[slot] = want;
    return r->buf[slot];
}

static void reader_close(Reader *r) {
    close(r->fd);
    free(r->buf[0]);
    free(r->buf[1]);
    r->buf[0] = r->buf[1] = NULL;
}

/* A handle owning the mapping `map` of `size` bytes (unmapped when it cannot be made: NULL, exception set). */
static FastModel *new_handle(void *map, int64_t size) {
    FastModel *f = PyObject_New(FastModel, &FastModelType);
    if (!f) {
        munmap(map, (size_t)size);
        return NULL;
    }
    f->map = map;
    f->size = size;
    f->attached = 0;
    f->blob = NULL;
    f->offsets = NULL;
    f->table = NULL;
    return f;
}

/* The file named by args' one path argument (fmt: "O&:name"), opened read-only if it is a regular file: its
   descriptor, or -1 with st untouched where the caller returns None (missing, unreadable, not a regular
   file), or -2 with a Python error set. */
static int open_regular(PyObject *args, const char *fmt, struct stat *st) {
    PyObject *o_path;
    if (!PyArg_ParseTuple(args, fmt, PyUnicode_FSConverter, &o_path)) return -2;
    int fd = open(PyBytes_AS_STRING(o_path), O_RDONLY | O_CLOEXEC);
    Py_DECREF(o_path);
    if (fd < 0) return -1;
    if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static PyObject *open_model(PyObject *self, PyObject *args) {
    struct stat st;
    int fd = open_regular(args, "O&:open_model", &st);
    if (fd == -2) return NULL;
    if (fd < 0) Py_RETURN_NONE;
    if (st.st_size < 22) { /* shorter than a zip's end record */
        close(fd);
        Py_RETURN_NONE;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        close(fd);
        Py_RETURN_NONE;
    }
    Reader rd = {.fd = fd, .size = st.st_size, .at = {-1, -1}};
    FastModel *f = new_handle(map, st.st_size);
    if (!f) {
        close(fd);
        return NULL;
    }
    ngk_zip_member members[MAX_MEMBERS];
    PyObject *arrays = NULL, *meta = NULL;
    int64_t n = ngk_zip_members(read_at, &rd, f->size, members, MAX_MEMBERS);
    if (n < 0) goto decline;
    arrays = PyDict_New();
    if (!arrays) goto fail;
    int64_t meta_at = -1;
    for (int64_t i = 0; i < n; i++) {
        ngk_zip_member *m = &members[i];
        if (!strcmp(m->name, "meta.json")) {
            meta_at = i; /* the last one wins, as in zipfile's NameToInfo */
            continue;
        }
        char descr[8];
        int ndim;
        int64_t shape[2] = {0, 0}, data;
        int64_t head = m->length < 10 + 1024 ? m->length : 10 + 1024; /* ngk_npy_header reads no further */
        const uint8_t *npy = read_at(&rd, 1, m->start, head);
        if (!npy || ngk_npy_header(npy, head, descr, &ndim, shape, &data)) goto decline;
        PyObject *sh = ndim == 1 ? Py_BuildValue("(L)", (long long)shape[0])
                     : ndim == 2 ? Py_BuildValue("(LL)", (long long)shape[0], (long long)shape[1])
                                 : PyTuple_New(0);
        PyObject *entry = sh ? Py_BuildValue("(sNLL)", descr, sh, (long long)(m->start + data),
                                             (long long)(m->length - data)) : NULL;
        if (!entry || PyDict_SetItemString(arrays, m->name, entry)) {
            Py_XDECREF(entry);
            goto fail;
        }
        Py_DECREF(entry);
    }
    if (meta_at < 0) goto decline;
    ngk_zip_member *mj = &members[meta_at];
    const uint8_t *mbytes = read_at(&rd, 0, mj->start, mj->length);
    if (!mbytes || ngk_crc32(mbytes, mj->length) != mj->crc) goto decline;
    meta = PyBytes_FromStringAndSize((const char *)mbytes, mj->length);
    if (!meta) goto fail;
    reader_close(&rd);
    return Py_BuildValue("(NNN)", (PyObject *)f, meta, arrays);
decline:
    reader_close(&rd);
    Py_XDECREF(arrays);
    Py_DECREF(f);
    Py_RETURN_NONE;
fail:
    reader_close(&rd);
    Py_XDECREF(arrays);
    Py_DECREF(f);
    return NULL;
}


/* open_query(path): the model file mapped and its query header read (ngk_query_header), nothing else. */
static PyObject *open_query(PyObject *self, PyObject *args) {
    struct stat st;
    int fd = open_regular(args, "O&:open_query", &st);
    if (fd == -2) return NULL;
    if (fd < 0) Py_RETURN_NONE;
    ngk_query q;
    Reader rd = {.fd = fd, .size = st.st_size, .at = {-1, -1}};
    int found = ngk_query_header(read_at, &rd, rd.size, &q) == 0;
    void *map = found ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    reader_close(&rd); /* the mapping holds the file */
    if (map == MAP_FAILED) Py_RETURN_NONE;
    FastModel *f = new_handle(map, st.st_size);
    if (!f) return NULL;
    PyObject *probes = PyTuple_New(q.order);
    if (!probes) {
        Py_DECREF(f);
        return NULL;
    }
    for (int k = 0; k < q.order; k++) {
        PyObject *span = Py_BuildValue("(LL)", (long long)q.probe[k][0], (long long)(q.probe[k][1] / 8));
        if (!span) {
            Py_DECREF(probes);
            Py_DECREF(f);
            return NULL;
        }
        PyTuple_SET_ITEM(probes, k, span);
    }
    return Py_BuildValue("(NLiN(LL)(LL)(LL))", (PyObject *)f, (long long)q.vocab, q.closed, probes,
                         (long long)q.words[0], (long long)q.words[1], (long long)q.offsets[0],
                         (long long)(q.offsets[1] / 8), (long long)q.index[0], (long long)(q.index[1] / 4));
}

/* ---- parse_json: meta.json without the json module (which imports re, a few ms of every start) ------------- */

/* A JSON document as json.loads(data.decode("utf-8")) returns it, or NULL with no exception set when json.loads
 * would refuse it or it uses what this parser leaves to json (a \u escape of a surrogate, nesting deeper than
 * 200): the caller then declines. NULL with an exception set: out of memory. */
typedef struct {
    const uint8_t *p, *end;
    int depth;
} JP;

static void jp_ws(JP *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int jp_lit(JP *j, const char *s) {
    size_t k = strlen(s);
    if ((size_t)(j->end - j->p) < k || memcmp(j->p, s, k) != 0) return 0;
    j->p += k;
    return 1;
}

static PyObject *jp_value(JP *j);

static int hex4(const uint8_t *p, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= c - '0';
        else if (c >= 'a' && c <= 'f') x |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') x |= c - 'A' + 10;
        else return 0;
    }
    *v = x;
    return 1;
}

static PyObject *jp_string(JP *j) {
    j->p++; /* the opening quote */
    const uint8_t *start = j->p;
    int plain = 1;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p < 0x20) return NULL; /* a control character: json's strict mode refuses it */
        if (*j->p == '\\') {
            plain = 0;
            j->p++;
            if (j->p >= j->end) return NULL;
        }
        j->p++;
    }
    if (j->p >= j->end) return NULL;
    const uint8_t *stop = j->p++;
    if (!ngk_utf8_valid(start, stop - start)) return NULL;
    if (plain) return PyUnicode_DecodeUTF8((const char *)start, stop - start, "strict");
    char *buf = malloc((size_t)(stop - start) + 1), *o = buf;
    if (!buf) return PyErr_NoMemory();
    for (const uint8_t *q = start; q < stop;) {
        if (*q != '\\') { *o++ = (char)*q++; continue; }
        q++;
        uint32_t u;
        switch (*q++) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (stop - q < 4 || !hex4(q, &u) || (u >= 0xD800 && u <= 0xDFFF)) { free(buf); return NULL; }
            q += 4;
            if (u < 0x80) *o++ = (char)u;
            else if (u < 0x800) { *o++ = (char)(0xC0 | u >> 6); *o++ = (char)(0x80 | (u & 0x3F)); }
            else { *o++ = (char)(0xE0 | u >> 12); *o++ = (char)(0x80 | (u >> 6 & 0x3F)); *o++ = (char)(0x80 | (u & 0x3F)); }
            break;
        default: free(buf); return NULL;
        }
    }
    PyObject *r = PyUnicode_DecodeUTF8(buf, o - buf, "strict");
    free(buf);
    return r;
}

static PyObject *jp_number(JP *j) {
    const uint8_t *s = j->p;
    int is_float = 0;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p < j->end && *j->p == '0') j->p++;
    else if (j->p < j->end && *j->p >= '1' && *j->p <= '9') while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    else return NULL;
    if (j->p < j->end && *j->p == '.') {
        is_float = 1;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return NULL;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        is_float = 1;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return NULL;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    size_t n = (size_t)(j->p - s);
    if (n > 4000) return NULL; /* int() refuses over 4300 digits; leave long numbers to json */
    char tmp[4096];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!is_float) return PyLong_FromString(tmp, NULL, 10);
    double d = PyOS_string_to_double(tmp, NULL, NULL);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(d);
}

static PyObject *jp_value(JP *j) {
    jp_ws(j);
    if (j->p >= j->end) return NULL;
    uint8_t c = *j->p;
    if (c == '"') return jp_string(j);
    if (c == '{' || c == '[') {
        if (++j->depth > 200) return NULL;
        int obj = c == '{';
        PyObject *r = obj ? PyDict_New() : PyList_New(0);
        if (!r) return NULL;
        j->p++;
        jp_ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            j->depth--;
            return r;
        }
        for (;;) {
            PyObject *key = NULL;
            if (obj) {
                jp_ws(j);
                if (j->p >= j->end || *j->p != '"' || !(key = jp_string(j))) goto bad;
                jp_ws(j);
                if (j->p >= j->end || *j->p++ != ':') goto bad;
            }
            PyObject *v = jp_value(j);
            if (!v) goto bad;
            int rc = obj ? PyDict_SetItem(r, key, v) : PyList_Append(r, v);
            Py_XDECREF(key);
            key = NULL;
            Py_DECREF(v);
            if (rc) goto bad;
            jp_ws(j);
            if (j->p >= j->end) goto bad;
            if (*j->p == ',') { j->p++; continue; }
            if (*j->p++ == (obj ? '}' : ']')) break;
        bad:
            Py_XDECREF(key);
            Py_DECREF(r);
            return NULL;
        }
        j->depth--;
        return r;
    }
    if (jp_lit(j, "true")) Py_RETURN_TRUE;
    if (jp_lit(j, "false")) Py_RETURN_FALSE;
    if (jp_lit(j, "null")) Py_RETURN_NONE;
    if (jp_lit(j, "NaN")) return PyFloat_FromDouble(Py_NAN);
    if (jp_lit(j, "Infinity")) return PyFloat_FromDouble(Py_HUGE_VAL);
    if (jp_lit(j, "-Infinity")) return PyFloat_FromDouble(-Py_HUGE_VAL);
    return jp_number(j);
}

static PyObject *parse_json(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0) return NULL;
    JP j = {v.buf, (const uint8_t *)v.buf + v.len, 0};
    PyObject *r = jp_value(&j);
    if (r) {
        jp_ws(&j);
        if (j.p != j.end) Py_CLEAR(r);
    }
    PyBuffer_Release(&v);
    if (!r) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_MemoryError)) PyErr_Clear();
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    return r;
}

PyDoc_STRVAR(pairwise_doc, "pairwise_sum(values) -> float: the pairwise sum of a float64 buffer (numpy >= 2's order), as both ppl paths compute it.");

static PyObject *py_pairwise_sum(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (v.itemsize != 8 || !v.format || strcmp(v.format, "d")) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_TypeError, "pairwise_sum: expected a contiguous float64 buffer");
        return NULL;
    }
    double s = ngk_pairwise_sum((const double *)v.buf, v.len / 8);
    PyBuffer_Release(&v);
    return PyFloat_FromDouble(s);
}

static PyObject *py_utf8_valid(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0) return NULL;
    int ok = ngk_utf8_valid((const uint8_t *)v.buf, v.len);
    PyBuffer_Release(&v);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"open_query", open_query, METH_VARARGS,
     "open_query(path) -> None | (model, vocab, suffix_closed, ((start, n_int64), ..) per order, (words start, bytes),\n"
     "(offsets start, n_int64), (index start, n_int32)): the file mapped, its query header read (nothing else)"},
    {"open_model", open_model, METH_VARARGS, "open_model(path) -> None | (model, meta_json, arrays)"},
    {"pairwise_sum", py_pairwise_sum, METH_O, pairwise_doc},
    {"parse_json", parse_json, METH_O, "parse_json(bytes) -> object | None: json.loads(bytes.decode()), or None"},
    {"utf8_valid", py_utf8_valid, METH_O, "utf8_valid(bytes) -> bool: Python's strict UTF-8 decoder would accept them"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastppl",
                                    "The compiled part of `ngramkit ppl`'s fast path (ngramkit/fastppl.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__fastppl(void) {
    if (PyType_Ready(&FastModelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&FastModelType);
    if (PyModule_AddObject(m, "FastModel", (PyObject *)&FastModelType) < 0) {
        Py_DECREF(&FastModelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
