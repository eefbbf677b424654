"""The RNN language model: embedding, L recurrent layers, full or class softmax.

Input: a :class:`~ngramkit.stream.Stream` (the same token ids the n-gram
models score). Output: ``log_probs(stream)``, an (N,) float64 array with
the natural-log probability of every predicted token (every word and every
``</s>``), exactly like the n-gram models, so perplexity and ``ngramkit
compare`` treat both kinds of model with the same code.

Scoring convention (the standard PTB setup; Mikolov's RNNLM does the same):
the stream is scored as ONE continuous sequence. The sentences are already
joined by their ``</s>`` tokens; the hidden state is carried across sentence
boundaries; the network starts from the all-zero state and its first input
is ``</s>`` (which plays the role of ``<s>``: the model has no separate
``<s>`` input), so token 0 is predicted from ``(</s>)``, token i from
``(</s>, w_0 .. w_{i-1})``. ``<unk>`` is an ordinary word. ``<s>`` and
``<pad>`` are never predicted: their output biases are pinned at -1e4, so
their probability is exactly 0 in float32/float64 (and their gradients are
exactly 0), and the V - 2 other words share all the mass; ``log_probs``
gives ``-inf`` for a literal ``<s>``/``<pad>`` token. A ``<s>`` read as
input (in a context) is treated as ``</s>``.

Architecture (shapes with T steps, B streams, V words, E embed, H hidden):

- ``x = embed[w]`` (T, B, E), dropout (training only);
- per layer l: ``xw = x @ Wx_l + bx_l`` (T, B, G*H) in numpy (one large
  product), then the recurrence ``h_t = cell(xw_t, h_{t-1} @ Wh_l + bh_l)``
  over all T steps inside the C kernel (:mod:`ngramkit.rnn.kernels`);
  G = 1 (rnn), 3 (gru), 4 (lstm); a peephole lstm also has ``P_l`` (3, H);
  dropout on the layer output;
- output: full softmax ``P(w|h) = softmax(h @ W + b)``, or Mikolov's class
  softmax ``P(w|h) = P(c(w)|h) P(w|c(w),h)`` with both factors exact softmaxes
  (over the C classes and over the words of class c(w)).

Word ids: the kernels see *kernel ids*, the vocabulary ids permuted so that
class c owns the contiguous range ``class_bounds[c]:class_bounds[c+1]``;
``to_kernel[vocab_id]`` gives the kernel id. Every weight indexed by word
(embedding rows, output columns) is stored in kernel order. With the full
softmax the permutation is the identity.
"""

from __future__ import annotations

import numpy as np

from .. import native
from ..errors import NgramkitError
from ..lm import LanguageModel, generation_rng, sample_next
from ..vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from . import kernels as K
from .config import RNNConfig
from .wordclasses import exchange_classes

EXCHANGE_ITERATIONS = 30  # passes of the exchange algorithm at most (PTB, 100 classes: converged after 18, 12 s)
SCORE_CHUNK = 4096  # steps per kernel call when scoring (memory bound only; results do not depend on it)
NEVER = (BOS_ID, PAD_ID)  # never predicted: their output bias is pinned at NEVER_BIAS
NEVER_BIAS = -1.0e4  # exp(-1e4) == 0 in float32/64: probability exactly 0, gradients exactly 0


def class_layout(counts: np.ndarray, classes: int, binning: str = "freq",
                 never=NEVER, train_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bin words into frequency classes as Mikolov's RNNLM does (or refine them by exchange).

    Input: counts (V,) training frequency of each vocabulary id (``</s>``
    included), the requested number of classes C, the binning rule, the
    ids that are never predicted (``<s>``, ``<pad>``) and, for
    ``exchange`` only, the training stream's ids (N,). Output:
    ``(order, class_bounds)``: ``order`` (V,) int32 lists vocabulary ids by
    descending count (ties by id), the never-predicted ids last — kernel id
    k is vocabulary id ``order[k]`` — and ``class_bounds`` (C'+1,) int32,
    C' <= C non-empty classes.

    Rule (RNNLM 0.3e/0.4b, ``CRnnLM::initNet``): walk the words from most
    to least frequent accumulating the unigram probability mass ``p``
    (``freq``: RNNLM's ``-old-classes``) or ``sqrt(p)`` normalised to 1
    (``sqrt``: RNNLM's default since 0.3); the word
    whose cumulative mass first exceeds (a+1)/C closes class a (at most one
    class closes per word). Frequent words thus get classes of their own
    and rare words share large classes. The never-predicted ids join the
    last class (so no class is made of them alone).

    ``exchange`` starts from the ``freq`` bins and moves words between
    classes to maximise the one-word-history class bigram likelihood on
    ``train_ids`` (:mod:`ngramkit.rnn.wordclasses`); within a class, words
    stay in descending count order.

    >>> order, bounds = class_layout(np.array([0, 0, 5, 0, 3, 1, 1]), 2)
    >>> order.tolist(), bounds.tolist()
    ([2, 4, 5, 6, 0, 1, 3], [0, 2, 7])
    """
    counts = np.asarray(counts, np.float64)
    v = counts.size
    never = [i for i in never if i < v]
    keep = np.ones(v, bool)
    keep[never] = False
    if not keep.any():
        raise NgramkitError("the vocabulary has no predictable word for the class softmax")
    ids = np.flatnonzero(keep)
    order = ids[np.lexsort((ids, -counts[ids]))]
    mass = counts[order]
    if binning == "sqrt":
        mass = np.sqrt(mass / max(mass.sum(), 1.0))
    total = mass.sum()
    share = mass / total if total > 0 else np.full(order.size, 1.0 / order.size)
    cls = np.empty(order.size, np.int64)
    a, df = 0, 0.0
    for i, m in enumerate(share.tolist()):  # sequential rule of rnnlm (V iterations, once per model)
        df = min(df + m, 1.0)
        cls[i] = a
        if df > (a + 1) / classes and a < classes - 1:
            a += 1
    if binning == "exchange":
        if train_ids is None:
            raise NgramkitError("class binning 'exchange' needs the training stream's ids (train_ids)")
        start = np.zeros(v, np.int64)
        start[order] = cls
        start[never] = cls[-1]
        refined = exchange_classes(train_ids, v, start, iterations=EXCHANGE_ITERATIONS, frozen=never)[order]
        regroup = np.argsort(refined, kind="stable")  # stable: descending count within each class
        order, cls = order[regroup], refined[regroup]
    starts = np.flatnonzero(np.diff(cls, prepend=-1) != 0)
    bounds = np.append(starts, v).astype(np.int32)
    return np.concatenate((order, never)).astype(np.int32), bounds


def compiled_optim():
    """The compiled row/update helpers ``ngramkit._optim``, or None for the numpy path (:mod:`ngramkit.native`)."""
    return native.extension("_optim")


class SparseRows:
    """A row-sparse gradient: ``dense[ids] = rows`` and zero elsewhere (``ids`` unique, sorted).

    The embedding gradient of a segment touches only the rows of the words
    it reads (a few hundred of V), so the trainer updates only those rows.
    """

    __slots__ = ("ids", "rows", "shape")

    def __init__(self, ids: np.ndarray, rows: np.ndarray, shape: tuple):
        self.ids, self.rows, self.shape = ids, rows, shape

    @classmethod
    def accumulate(cls, ids: np.ndarray, values: np.ndarray, shape: tuple) -> SparseRows:
        """Sum the rows of ``values`` (n, E) that share an id of ``ids`` (n,)."""
        uniq, inv = np.unique(ids, return_inverse=True)
        rows = np.zeros((uniq.size, shape[1]), np.float32)
        values = np.ascontiguousarray(values, np.float32)
        fused = compiled_optim()
        if fused is not None:
            fused.add_rows(rows, values, inv.astype(np.int64, copy=False))
        else:
            np.add.at(rows, inv, values)
        return cls(uniq.astype(np.int64), rows, shape)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, np.float32)
        out[self.ids] = self.rows
        return out


class RNNLM(LanguageModel):
    """A recurrent language model over a fixed vocabulary.

    Build with :meth:`create` (random weights), train with
    :func:`ngramkit.rnn.train.train`, save/load with
    :func:`ngramkit.modelio.save_model` / ``load_model``. ``score``,
    ``logscore``, ``perplexity`` and ``entropy`` come from
    :class:`~ngramkit.lm.LanguageModel`; ``<s>`` and ``<pad>`` are
    never predicted (probability 0), everything else sums to 1.

    >>> from ngramkit import Stream, Vocabulary
    >>> sents = [["a", "b"], ["b", "a", "b"]]
    >>> vocab = Vocabulary.build(sents)
    >>> lm = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8), vocab)
    >>> lm.log_probs(Stream.from_sentences(sents, vocab)).shape
    (7,)
    """

    name = "rnn"
    is_probabilistic = True
    scores_sentences_alone = False  # the hidden state runs on across sentences

    def __init__(self, config: RNNConfig, vocab: Vocabulary, params: dict, to_kernel: np.ndarray,
                 class_bounds: np.ndarray | None):
        if len(vocab) != config.vocab_size:
            raise NgramkitError(f"RNN config has vocab_size {config.vocab_size} but the vocabulary has {len(vocab)} words")
        self.order = None  # not an n-gram model: the context is the whole history
        self.config = config
        self.vocab = vocab
        self.params = params  # name -> float32 array, see _param_shapes()
        self.to_kernel = np.ascontiguousarray(to_kernel, np.int32)  # (V,) vocab id -> kernel id
        self.to_vocab = np.empty_like(self.to_kernel)  # (V,) kernel id -> vocab id
        self.to_vocab[self.to_kernel] = np.arange(self.to_kernel.size, dtype=np.int32)
        self.class_bounds = None if class_bounds is None else np.ascontiguousarray(class_bounds, np.int32)
        self.identity_ids = bool(np.array_equal(self.to_kernel, np.arange(self.to_kernel.size)))
        expected = self._param_shapes()
        for key, shape in expected.items():
            if key not in params or params[key].shape != shape or params[key].dtype != np.float32:
                got = None if key not in params else (params[key].shape, params[key].dtype)
                raise NgramkitError(f"RNN parameter {key!r}: expected float32 {shape}, got {got}")
        extra = sorted(set(params) - set(expected))
        if extra:
            raise NgramkitError(f"RNN parameters {extra} do not belong to this configuration")
        self.name = config.cell

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def create(cls, config: RNNConfig, vocab: Vocabulary, counts: np.ndarray | None = None, *,
               train_ids: np.ndarray | None = None) -> RNNLM:
        """Random weights (uniform in ±init_scale, zero biases) seeded by ``config.seed``.

        ``counts`` (V,) are the training frequencies that define the softmax
        classes; pass ``np.bincount(train_stream.ids, minlength=V)`` so that
        ``</s>`` is counted (``vocab.counts`` is used when omitted). The
        ``exchange`` class binning also needs ``train_ids``, the training
        stream's ids (its counts are then taken from them).
        """
        v = config.vocab_size
        if config.softmax == "class":
            if train_ids is not None and counts is None:
                counts = np.bincount(train_ids, minlength=v)
            counts = vocab.counts if counts is None else np.asarray(counts)
            if counts.shape != (v,):
                raise NgramkitError(f"class counts must have shape ({v},), got {counts.shape}")
            order, bounds = class_layout(counts, min(config.classes, v), config.class_binning,
                                         train_ids=train_ids)
            to_kernel = np.empty(v, np.int32)
            to_kernel[order] = np.arange(v, dtype=np.int32)
        else:
            to_kernel, bounds = np.arange(v, dtype=np.int32), None
        shapes = cls._shapes(config, None if bounds is None else bounds.size - 1)
        rng = np.random.default_rng(config.seed)
        s = config.init_scale
        params = {}
        for key, shape in shapes.items():
            is_bias = key.endswith(".bx") or key.endswith(".bh") or key.endswith(".b")
            params[key] = (np.zeros(shape, np.float32) if is_bias
                           else rng.uniform(-s, s, size=shape).astype(np.float32))
        params["out.b"][to_kernel[[i for i in NEVER if i < v]]] = NEVER_BIAS
        return cls(config, vocab, params, to_kernel, bounds)

    # ---- state for ngramkit.modelio -------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict]:
        """(meta, arrays) for :func:`ngramkit.modelio.save_model`: the config and the weights."""
        arrays = dict(self.params)
        arrays["to_kernel"] = self.to_kernel
        if self.class_bounds is not None:
            arrays["class_bounds"] = self.class_bounds
        return {"config": self.config.to_dict(), "n_params": self.n_params,
                "scoring": "one continuous stream, sentences joined by </s>, first input </s>"}, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict, vocab: Vocabulary) -> RNNLM:
        """Rebuild from :meth:`get_state` output (arrays may be read-only memory maps)."""
        config = RNNConfig.from_dict(dict(meta["config"]))
        arrays = dict(arrays)
        to_kernel = arrays.pop("to_kernel")
        bounds = arrays.pop("class_bounds", None)
        return cls(config, vocab, arrays, to_kernel, bounds)

    @staticmethod
    def _shapes(config: RNNConfig, n_classes: int | None) -> dict:
        v, e, h = config.vocab_size, config.embed_size, config.hidden
        gh = K.GATES[config.cell] * h
        shapes = {"embed": (v, e)}
        for layer in range(config.layers):
            n_in = e if layer == 0 else h
            shapes[f"layer{layer}.Wx"] = (n_in, gh)
            shapes[f"layer{layer}.bx"] = (gh,)
            shapes[f"layer{layer}.Wh"] = (h, gh)
            shapes[f"layer{layer}.bh"] = (gh,)
            if config.peephole:
                shapes[f"layer{layer}.P"] = (3, h)  # p_i, p_f, p_o (reference.py)
        if config.softmax == "class":
            shapes["class.W"] = (h, n_classes)
            shapes["class.b"] = (n_classes,)
        if not config.tie_weights:
            shapes["out.W"] = (h, v)
        shapes["out.b"] = (v,)
        return shapes

    def _param_shapes(self) -> dict:
        n_classes = None if self.class_bounds is None else self.class_bounds.size - 1
        return self._shapes(self.config, n_classes)

    @property
    def n_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    @property
    def n_classes(self) -> int | None:
        return None if self.class_bounds is None else int(self.class_bounds.size - 1)

    def __repr__(self) -> str:
        c = self.config
        out = "full softmax" if c.softmax == "full" else f"class softmax ({self.n_classes} classes)"
        cell = f"{c.cell} with peepholes" if c.peephole else c.cell
        return (f"RNNLM({cell}, {c.layers}x{c.hidden}, embed {c.embed_size}, V={c.vocab_size}, {out}, "
                f"{self.n_params:,} parameters)")

    # ---- state --------------------------------------------------------------------------------
    def initial_state(self, batch: int) -> list:
        """Per layer ``(h, c)``: zeros (B, H); c is None except for the LSTM."""
        h = self.config.hidden
        lstm = self.config.cell == "lstm"
        return [(np.zeros((batch, h), np.float32), np.zeros((batch, h), np.float32) if lstm else None)
                for _ in range(self.config.layers)]

    def _out_w(self) -> np.ndarray:
        if self.config.tie_weights:
            return np.ascontiguousarray(self.params["embed"].T)  # (H, V) kernel order
        return self.params["out.W"]

    # ---- forward / backward over a segment -------------------------------------------------------
    def forward_backward(self, inputs: np.ndarray, targets: np.ndarray, state: list, *, scale: float,
                         need_grad: bool = True, rng: np.random.Generator | None = None):
        """Loss and gradients of one (T, B) segment (truncated BPTT).

        Input: ``inputs``, ``targets`` (T, B) int32 *kernel* ids; ``state``
        from :meth:`initial_state` or a previous call (treated as a constant:
        the graph is cut there); ``scale`` multiplies the summed negative
        log-likelihood (the loss is ``-scale * sum(logp)``); ``rng`` draws
        dropout masks (dropout is applied only when given and
        ``config.dropout > 0``).
        Output: ``(logp, grads, new_state)``: logp (T*B,) float natural logs
        in time-major order, grads a dict shaped like ``params`` (None when
        ``need_grad`` is False), new_state the state after the last step.
        """
        cfg, p = self.config, self.params
        t, b = inputs.shape
        n = t * b
        drop = cfg.dropout if (rng is not None and cfg.dropout > 0) else 0.0

        def mask(shape):
            keep = 1.0 - drop
            return (rng.random(shape, dtype=np.float32) < keep).astype(np.float32) * np.float32(1.0 / keep)

        flat_in = inputs.reshape(n)
        x = p["embed"][flat_in]  # (N, E)
        masks, layer_inputs, caches, new_state = [], [], [], []
        if drop:
            masks.append(mask(x.shape))
            x *= masks[-1]
        for layer in range(cfg.layers):
            h0, c0 = state[layer]
            wx, bx = p[f"layer{layer}.Wx"], p[f"layer{layer}.bx"]
            xw = x @ wx  # (N, G*H)
            xw += bx
            hs, c_t, cache = K.recurrent_forward(cfg.cell, xw.reshape(t, b, -1), h0, c0,
                                                 p[f"layer{layer}.Wh"], p[f"layer{layer}.bh"], p.get(f"layer{layer}.P"))
            layer_inputs.append(x)
            caches.append(cache)
            new_state.append((np.array(hs[-1], np.float32), None if c_t is None else np.array(c_t, np.float32)))
            x = hs.reshape(n, cfg.hidden)  # (N, H)
            if drop:
                masks.append(mask(x.shape))
                x = x * masks[-1]
        tgt = np.ascontiguousarray(targets.reshape(n), np.int32)
        w_out = self._out_w()
        if cfg.softmax == "full":
            logp, dh, dw, db = K.softmax_xent(x, w_out, p["out.b"], tgt, scale=scale, need_grad=need_grad)
        else:
            logp, dh, dwc, dbc, dw, db = K.class_softmax_xent(
                x, p["class.W"], p["class.b"], w_out, p["out.b"], self.class_bounds, tgt,
                scale=scale, need_grad=need_grad)
        if not need_grad:
            return logp, None, new_state

        grads = {"out.b": db}
        if cfg.softmax == "class":
            grads["class.W"], grads["class.b"] = dwc, dbc
        if not cfg.tie_weights:
            grads["out.W"] = dw
        dx = dh  # (N, H)
        for layer in reversed(range(cfg.layers)):
            if drop:
                dx = dx * masks[layer + 1]
            h0, c0 = state[layer]
            wx = p[f"layer{layer}.Wx"]
            dh_t = np.zeros_like(h0)
            dc_t = None if c0 is None else np.zeros_like(c0)
            peep = p.get(f"layer{layer}.P")
            dxw, _, _, dwh, dbh = K.recurrent_backward(cfg.cell, dx.reshape(t, b, cfg.hidden), dh_t, dc_t,
                                                        caches[layer], h0, c0, p[f"layer{layer}.Wh"],
                                                        p[f"layer{layer}.bh"], peep)
            if peep is not None:
                grads[f"layer{layer}.P"] = K.peephole_grad(dxw, caches[layer], c0)
            dxw = dxw.reshape(n, -1)
            grads[f"layer{layer}.Wh"], grads[f"layer{layer}.bh"] = dwh, dbh
            grads[f"layer{layer}.Wx"] = layer_inputs[layer].T @ dxw
            grads[f"layer{layer}.bx"] = dxw.sum(axis=0)
            dx = dxw @ wx.T  # (N, In)
        if drop:
            dx = dx * masks[0]
        if cfg.tie_weights:
            d_embed = np.ascontiguousarray(dw.T)  # (V, E) the output part, dense
            np.add.at(d_embed, flat_in, dx)  # rows of repeated ids accumulate
            grads["embed"] = d_embed
        else:
            grads["embed"] = SparseRows.accumulate(flat_in, dx, p["embed"].shape)
        return logp, grads, new_state

    # ---- scoring ------------------------------------------------------------------------------
    def kernel_ids(self, ids: np.ndarray) -> np.ndarray:
        """Vocabulary ids -> the kernel's ids (int32, the order of ``to_kernel``), range-checked."""
        ids = np.asarray(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise NgramkitError(f"token ids must be in [0, {self.config.vocab_size}), "
                                f"got {int(ids.min())}..{int(ids.max())}; was the stream built with this model's vocabulary?")
        ids = ids.astype(np.int32, copy=False)
        return ids if self.identity_ids else self.to_kernel[ids]

    def _input_ids(self, ids) -> np.ndarray:
        """Vocabulary ids read as inputs -> kernel ids; ``<s>`` is read as ``</s>`` (a sentence boundary)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        ids = np.where(ids == BOS_ID, EOS_ID, ids)
        return self.kernel_ids(ids)

    def log_probs(self, stream) -> np.ndarray:
        """(N,) float64 natural-log probability of every token of ``stream`` (see the module docstring).

        A stream over another vocabulary is remapped through the words first.
        """
        stream = self.remap(stream)
        ids = self.kernel_ids(stream.ids)
        n = ids.size
        out = np.empty(n, np.float64)
        if n == 0:
            return out
        inputs = np.empty(n, np.int32)
        inputs[0] = self.to_kernel[EOS_ID]
        inputs[1:] = ids[:-1]
        state = self.initial_state(1)
        for start in range(0, n, SCORE_CHUNK):
            stop = min(start + SCORE_CHUNK, n)
            logp, _, state = self.forward_backward(inputs[start:stop, None], ids[start:stop, None], state,
                                                   scale=1.0, need_grad=False)
            out[start:stop] = logp
        out[np.isin(stream.ids, NEVER)] = -np.inf  # a literal "<s>"/"<pad>" token is never predicted
        return out

    # ---- full distributions (generation, tests) -----------------------------------------------
    def _output_log_probs(self, h: np.ndarray) -> np.ndarray:
        """(n, H) top-layer states -> (n, V) float64 log-probabilities in *vocabulary* order."""
        h = h.astype(np.float64)
        p = self.params
        w = self._out_w().astype(np.float64)
        z = h @ w + p["out.b"]  # (n, V) kernel order
        if self.class_bounds is None:
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        else:
            starts = self.class_bounds[:-1]
            sizes = np.diff(self.class_bounds)
            zc = h @ p["class.W"].astype(np.float64) + p["class.b"]  # (n, C)
            zc -= zc.max(axis=1, keepdims=True)
            log_pc = zc - np.log(np.exp(zc).sum(axis=1, keepdims=True))
            zmax = np.maximum.reduceat(z, starts, axis=1)  # (n, C)
            e = np.exp(z - np.repeat(zmax, sizes, axis=1))
            lse = np.log(np.add.reduceat(e, starts, axis=1)) + zmax  # (n, C)
            logp = np.repeat(log_pc - lse, sizes, axis=1) + z
        logp = logp[:, self.to_kernel]
        logp[:, [i for i in NEVER if i < logp.shape[1]]] = -np.inf
        return logp

    def _advance(self, ids: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        """Feed kernel ids (n,) one stream; return the top-layer states (n, H) and the new state."""
        cfg, p = self.config, self.params
        x = p["embed"][ids]
        n = ids.size
        new_state = []
        for layer in range(cfg.layers):
            h0, c0 = state[layer]
            xw = x @ p[f"layer{layer}.Wx"] + p[f"layer{layer}.bx"]
            hs, c_t, _ = K.recurrent_forward(cfg.cell, np.ascontiguousarray(xw.reshape(n, 1, -1), np.float32),
                                             h0, c0, p[f"layer{layer}.Wh"], p[f"layer{layer}.bh"],
                                             p.get(f"layer{layer}.P"))
            new_state.append((np.array(hs[-1]), None if c_t is None else np.array(c_t)))
            x = hs.reshape(n, cfg.hidden)
        return x, new_state

    def next_log_probs(self, context_ids) -> np.ndarray:
        """(V,) float64 natural-log distribution of the next token after ``context_ids``.

        ``context_ids`` (vocabulary ids, or token strings) is a piece of the
        continuous stream read after the implicit initial ``</s>``, exactly
        as :meth:`log_probs` reads a stream, so
        ``next_log_probs(ids[:i])[ids[i]] == log_probs(stream)[i]`` up to
        float32 rounding. A ``<s>`` in the context is read as ``</s>``.
        ``<s>`` and ``<pad>`` get ``-inf``; the rest sums to 1.
        """
        ids = self._context_ids(context_ids)
        inputs = np.concatenate(([self.to_kernel[EOS_ID]], self._input_ids(ids))).astype(np.int32)
        h, _ = self._advance(inputs, self.initial_state(1))
        return self._output_log_probs(h[-1:])[0]

    def generate(self, num_words: int = 1, text_seed=None, random_seed=None, *, temperature: float = 1.0,
                 top_k: int | None = None, stop_at_eos: bool = False) -> list[str]:
        """Sample ``num_words`` tokens after ``text_seed`` (words; default: the stream start).

        The same contract as :meth:`LanguageModel.generate`, but the RNN's
        context is the whole history: after a generated ``</s>`` the state
        is carried on (as when scoring), not reset. ``temperature`` divides
        the log-probabilities; ``top_k`` keeps the k most probable tokens;
        ``random_seed`` is an int >= 0 or a ``numpy.random.Generator``.
        """
        return list(self.iter_generate(num_words, text_seed, random_seed, temperature=temperature, top_k=top_k,
                                       stop_at_eos=stop_at_eos))

    def iter_generate(self, num_words: int | None = None, text_seed=None, random_seed=None, *,
                      temperature: float = 1.0, top_k: int | None = None, stop_at_eos: bool = False):
        """:meth:`generate` as an iterator: each token as soon as it is drawn (``num_words=None``: no end).

        The arguments are checked (and ``text_seed`` read) at the call.
        """
        rng = generation_rng(num_words, temperature, top_k, random_seed)
        seed_ids = self._context_ids(text_seed)
        inputs = np.concatenate(([self.to_kernel[EOS_ID]], self._input_ids(seed_ids))).astype(np.int32)
        h, state = self._advance(inputs, self.initial_state(1))
        return self._sample(h, state, num_words, rng, temperature, top_k, stop_at_eos)

    def _sample(self, h, state, num_words, rng, temperature, top_k, stop_at_eos):
        drawn = 0
        while num_words is None or drawn < num_words:
            word_id = sample_next(self._output_log_probs(h[-1:])[0], rng, temperature, top_k)
            drawn += 1
            yield self.vocab.words[word_id]
            if word_id == EOS_ID and stop_at_eos:
                return
            if num_words is None or drawn < num_words:  # the state after the last token is never needed
                h, state = self._advance(np.array([self.to_kernel[word_id]], np.int32), state)
