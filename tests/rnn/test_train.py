"""Trainer: learning, repeatability, exact resume, divergence handling, schedules, clipping, Adam."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ngramkit import Stream, Vocabulary, modelio
from ngramkit.errors import NgramkitError
from ngramkit.rnn import RNNLM, RNNConfig, TrainConfig, TrainerState, TrainingCheckpoint, train
from ngramkit.rnn.presets import PRESETS, preset
from ngramkit.rnn.train import Optimizer, clip_factor, end_of_epoch, next_lr, partition


def periodic(n_sent=60):
    """A deterministic stream: each sentence is 'a b c d e' (5 words + </s> = period 6)."""
    sents = [["a", "b", "c", "d", "e"]] * n_sent
    vocab = Vocabulary.build(sents)
    return sents, vocab, Stream.from_sentences(sents, vocab)


def tiny_model(vocab, stream, **kw):
    cfg = RNNConfig(vocab_size=len(vocab), **{"hidden": 12, **kw})
    return RNNLM.create(cfg, vocab, np.bincount(stream.ids, minlength=len(vocab)))


@pytest.mark.parametrize("cell,softmax,opt", [("rnn", "class", "adam"), ("gru", "full", "adam"),
                                              ("lstm", "full", "sgd")])
def test_learns_a_deterministic_sequence(cell, softmax, opt):
    _, vocab, stream = periodic()
    model = tiny_model(vocab, stream, cell=cell, softmax=softmax, classes=3)
    cfg = TrainConfig(batch=4, bptt=6, epochs=25, optimizer=opt, lr=0.05 if opt == "adam" else 1.0,
                      schedule="none", patience=0)
    start = math.exp(-model.log_probs(stream).mean())
    result = train(model, stream, stream, cfg)
    final = math.exp(-result.model.log_probs(stream).mean())
    assert start > 4 and final < 1.1, (start, final)
    assert result.best_valid_ppl == pytest.approx(final)
    assert [e["epoch"] for e in result.history] == list(range(1, 26))
    assert result.history[0]["tokens"] == (stream.n_tokens // 4) * 4


def test_same_seed_same_run_different_seed_different_run():
    _, vocab, stream = periodic(20)
    runs = []
    for seed in (3, 3, 4):
        model = tiny_model(vocab, stream, cell="gru", dropout=0.2, seed=seed)
        cfg = TrainConfig(batch=3, bptt=5, random_bptt=True, epochs=2, optimizer="adam", lr=0.01, seed=seed,
                          schedule="none")
        runs.append(train(model, stream, stream, cfg).model.params)
    for key in runs[0]:
        np.testing.assert_array_equal(runs[0][key], runs[1][key])
    assert not np.array_equal(runs[0]["layer0.Wh"], runs[2]["layer0.Wh"])


@pytest.mark.parametrize("opt,schedule", [("adam", "none"), ("sgd", "mikolov")])
def test_resume_equals_uninterrupted_run(tmp_path, opt, schedule):
    _, vocab, stream = periodic(30)
    valid = Stream.from_sentences([["a", "b", "c"], ["d", "e"]], vocab)
    kw = dict(batch=3, bptt=5, random_bptt=True, optimizer=opt, lr=0.02 if opt == "adam" else 0.5,
              schedule=schedule, min_improvement=1.3, patience=0, seed=9)

    def fresh():
        return tiny_model(vocab, stream, cell="lstm", dropout=0.1, seed=2)

    full = train(fresh(), stream, valid, TrainConfig(epochs=4, **kw), checkpoint_dir=tmp_path / "a")
    train(fresh(), stream, valid, TrainConfig(epochs=2, **kw), checkpoint_dir=tmp_path / "b")
    assert TrainingCheckpoint.load(tmp_path / "b" / "last.ngk").state.epoch == 2
    resumed = train(fresh(), stream, valid, TrainConfig(epochs=4, **kw), checkpoint_dir=tmp_path / "b",
                    resume=True, log_path=tmp_path / "log.json")
    assert len(resumed.history) == len(full.history)
    for a, b in zip(full.history, resumed.history):
        assert {k: v for k, v in a.items() if "seconds" not in k and "per_second" not in k} == \
               {k: v for k, v in b.items() if "seconds" not in k and "per_second" not in k}
    for key in full.model.params:
        np.testing.assert_array_equal(full.model.params[key], resumed.model.params[key])
    best = modelio.load_model(tmp_path / "b" / "best.ngk")
    np.testing.assert_array_equal(best.log_probs(valid), full.model.log_probs(valid))
    log = json.loads((tmp_path / "log.json").read_text())
    assert [e["valid_ppl"] for e in log["epochs"]] == [e["valid_ppl"] for e in full.history]
    with pytest.raises(NgramkitError, match="different settings"):
        train(fresh(), stream, valid, TrainConfig(epochs=5, **{**kw, "bptt": 7}), checkpoint_dir=tmp_path / "b",
              resume=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    _, vocab, stream = periodic(30)
    model = tiny_model(vocab, stream)
    cfg = TrainConfig(batch=3, bptt=5, epochs=3, optimizer="sgd", lr=0.5, schedule="none")

    def poison(event):  # corrupt a weight during epoch 2, after its 3rd update
        if event["epoch"] == 2 and event["valid_ppl"] is None and event["done"] == 3 * 15:
            model.params["layer0.Wh"][0, 0] = np.inf

    with pytest.raises(NgramkitError, match=r"epoch 2, step 4 of .*lower --lr or set --clip.*epoch 1"):
        train(model, stream, stream, cfg, checkpoint_dir=tmp_path, progress=poison)
    ckpt = TrainingCheckpoint.load(tmp_path / "last.ngk")
    assert ckpt.state.epoch == 1
    assert all(np.all(np.isfinite(p)) for p in ckpt.model.params.values())


def _run_schedule(cfg, ppls):
    """(learning rates of epochs 2.., final state) after feeding validation perplexities epoch by epoch."""
    state, lrs = TrainerState.start(cfg), []
    for ppl in ppls:
        state = end_of_epoch(state, cfg, ppl)
        lrs.append(state.lr)
        if state.stopped:
            break
    return lrs, state


def test_mikolov_schedule_halves_then_stops():
    cfg = TrainConfig(schedule="mikolov", min_improvement=1.01, lr=1.0, patience=0)
    lrs, state = _run_schedule(cfg, [300.0, 200.0, 199.0, 150.0, 149.9])
    # log 199 * 1.01 > log 200: stall at epoch 3 -> halving starts; 150 is a big gain; 149.9 stalls again -> stop
    assert lrs == [1.0, 1.0, 0.5, 0.25, 0.125]
    assert "stalled twice" in state.stopped and state.epoch == 5
    assert (state.best_valid_ppl, state.best_epoch) == (149.9, 5)
    # next_lr alone: the epoch-3 decision from the state after epoch 2 and epoch 3's cross-entropy
    after2 = TrainerState(lr=1.0, epoch=3, prev_xent=math.log(200.0), best_valid_ppl=200.0, best_epoch=2)
    assert next_lr(after2, cfg, math.log(199.0)) == 0.5  # log 199 * 1.01 > log 200
    assert next_lr(after2, cfg, math.log(150.0)) == 1.0  # enough improvement: no halving yet


def test_step_and_constant_schedules_are_functions_of_the_epoch():
    step = TrainConfig(schedule="step", lr=2.0, lr_decay=0.5, decay_after=2, epochs=6, patience=0)
    # Zaremba et al.: lr * decay ** max(0, epoch - decay_after); epochs 1..7 -> 2, 2, 1, 0.5, 0.25, 0.125, 0.0625
    assert TrainerState.start(step).lr == 2.0
    assert _run_schedule(step, [10.0] * 6)[0] == [2.0, 1.0, 0.5, 0.25, 0.125, 0.0625]
    assert [next_lr(TrainerState(lr=99.0, epoch=e), step) for e in range(5)] == [2.0, 2.0, 1.0, 0.5, 0.25]
    assert TrainerState.start(TrainConfig(schedule="step", lr=2.0, decay_after=0)).lr == 1.0
    none = TrainConfig(schedule="none", lr=0.3, epochs=4, patience=0)
    lrs, state = _run_schedule(none, [50.0, 60.0, 40.0, 70.0])
    assert lrs == [0.3] * 4 and (state.epoch, state.best_epoch, state.stopped) == (4, 3, "max epochs")


def test_best_epoch_patience_and_max_epochs():
    cfg = TrainConfig(schedule="none", lr=0.1, epochs=10, patience=2)
    lrs, state = _run_schedule(cfg, [50.0, 40.0, 45.0, 39.0, 41.0, 42.0, 1.0])
    # new bests at epochs 1, 2, 4; epochs 5 and 6 are not better -> stop after epoch 6 (1.0 is never seen)
    assert (state.epoch, state.best_epoch, state.best_valid_ppl, state.bad_epochs) == (6, 4, 39.0, 2)
    assert state.stopped == "no better validation perplexity for 2 epochs (early stopping)"
    no_valid = TrainConfig(schedule="none", epochs=2)
    lrs, state = _run_schedule(no_valid, [None, None, None])
    assert (state.epoch, state.best_epoch, state.best_valid_ppl, state.stopped) == (2, 2, None, "max epochs")
    with pytest.raises(NgramkitError, match="validation perplexity is inf after epoch 1"):
        end_of_epoch(TrainerState.start(cfg), cfg, math.inf)


def test_trainer_state_round_trips_through_json():
    state = end_of_epoch(TrainerState.start(TrainConfig()), TrainConfig(), 123.5)
    assert TrainerState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    with pytest.raises(NgramkitError, match="trainer state must have the fields"):
        TrainerState.from_dict({"lr": 1.0})


@pytest.mark.parametrize("impl", ["c", "numpy"])
def test_clip_and_sgd_step(monkeypatch, impl):
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    rng = np.random.default_rng(0)
    grads = {"a": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=5).astype(np.float32)}
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    assert clip_factor(grads, 1.0) == pytest.approx((norm, 1.0 / norm), rel=1e-6)
    assert clip_factor(grads, 10.0) == pytest.approx((norm, 1.0), rel=1e-6)  # below the threshold: factor 1
    assert clip_factor(grads, 0.0)[1] == 1.0  # 0 disables clipping
    params = {"a": np.ones((3, 4), np.float32), "b": np.zeros(5, np.float32)}
    Optimizer(TrainConfig(optimizer="sgd"), params).update(params, grads, 0.5, 1.0 / norm)
    np.testing.assert_allclose(params["a"], 1 - 0.5 * grads["a"] / norm, rtol=1e-6)
    np.testing.assert_allclose(params["b"], -0.5 * grads["b"] / norm, rtol=1e-6)
    # a g <- min(1, clip/||g||) g step never moves the parameters by more than lr * clip
    step = np.concatenate([(params["a"] - 1).ravel(), params["b"]])
    assert np.linalg.norm(step) == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("impl", ["c", "numpy"])
def test_adam_matches_the_textbook_update(monkeypatch, impl):
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    rng = np.random.default_rng(1)
    p = {"w": rng.normal(size=(2, 300)).astype(np.float32)}
    ref = p["w"].astype(np.float64)
    m = v = np.zeros((2, 300))
    cfg = TrainConfig(optimizer="adam", lr=0.01)
    opt = Optimizer(cfg, p)
    for t in range(1, 5):
        g = rng.normal(size=(2, 300)).astype(np.float32)
        gs = 0.5 * g.astype(np.float64)
        m = 0.9 * m + 0.1 * gs
        v = 0.999 * v + 0.001 * gs ** 2
        ref = ref - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        opt.update(p, {"w": g}, 0.01, 0.5)
    np.testing.assert_allclose(p["w"], ref, rtol=1e-5, atol=1e-6)


def test_partition_is_sequential():
    ids = np.arange(4, 30, dtype=np.int32)
    x, y = partition(ids, 2, 4, offset=1)
    seq = np.concatenate(([2], ids))
    length = (seq.size - 2) // 4
    for b in range(4):
        np.testing.assert_array_equal(x[:, b], seq[1 + b * length: 1 + (b + 1) * length])
        np.testing.assert_array_equal(y[:, b], seq[2 + b * length: 2 + (b + 1) * length])
    with pytest.raises(NgramkitError, match="too few for --batch 40"):
        partition(ids, 2, 40)


def test_bad_training_inputs():
    _, vocab, stream = periodic(5)
    model = tiny_model(vocab, stream)
    with pytest.raises(NgramkitError, match="mikolov .* needs validation"):
        train(model, stream, None, TrainConfig())
    with pytest.raises(NgramkitError, match="--resume needs a checkpoint"):
        train(model, stream, stream, TrainConfig(), resume=True)
    with pytest.raises(NgramkitError, match="optimizer must be one of"):
        TrainConfig(optimizer="rmsprop")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_row_sparse_update_touches_only_read_rows(optimizer):
    from ngramkit.rnn.model import SparseRows

    rng = np.random.default_rng(2)
    dense = rng.normal(size=(6, 3)).astype(np.float32)
    dense[[0, 2, 5]] = 0
    sparse = SparseRows.accumulate(np.array([3, 1, 4, 3, 1]), rng.normal(size=(5, 3)).astype(np.float32), (6, 3))
    assert sparse.ids.tolist() == [1, 3, 4]
    dense[[1, 3, 4]] = sparse.rows
    p_sparse = {"e": np.ones((6, 3), np.float32)}
    p_dense = {"e": np.ones((6, 3), np.float32)}
    cfg = TrainConfig(optimizer=optimizer, lr=0.1)
    Optimizer(cfg, p_sparse).update(p_sparse, {"e": sparse}, 0.1, 0.5)
    Optimizer(cfg, p_dense).update(p_dense, {"e": dense.copy()}, 0.1, 0.5)
    # one step from zero moments: lazy and dense updates agree on every row (unread rows do not move)
    np.testing.assert_allclose(p_sparse["e"], p_dense["e"], rtol=1e-6)
    assert np.all(p_sparse["e"][[0, 2, 5]] == 1)


def test_compiled_optimiser_rejects_bad_buffers():
    from ngramkit import _optim

    p = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        _optim.sgd_rows(p, np.ones((1, 3), np.float32), np.array([4]), 0.1)
    with pytest.raises(ValueError, match="expected shape"):
        _optim.sgd_rows(p, np.ones((2, 3), np.float32), np.array([1]), 0.1)
    with pytest.raises(TypeError, match="float32"):
        _optim.sgd(p, np.ones((4, 3)), 0.1)
    with pytest.raises(TypeError, match="C-contiguous"):
        _optim.sgd(p, np.ones((3, 4), np.float32).T, 0.1)
    with pytest.raises(ValueError, match="elements"):
        _optim.adam(p, np.ones(12, np.float32), np.zeros(12, np.float32), np.zeros(11, np.float32),
                    1.0, 0.9, 0.999, 0.1, 1e-8)
    out = np.zeros((2, 3), np.float32)
    _optim.add_rows(out, np.arange(9, dtype=np.float32).reshape(3, 3), np.array([1, 0, 1]))
    assert out.tolist() == [[3, 4, 5], [6, 8, 10]]


def test_compiled_optimiser_flushes_denormals():
    """SGD from 2e-38 by 1.5e-38 leaves 5e-39, a denormal: the fused update writes 0 (fpmode.h), numpy keeps it."""
    from ngramkit import _optim

    p, g = np.full(8, 2e-38, np.float32), np.full(8, 1.5e-38, np.float32)
    assert (p - g)[0] != 0  # numpy's arithmetic (the caller's mode) has denormals
    _optim.sgd(p, g, 1.0)
    assert not p.any()
    m, v = np.zeros(8, np.float32), np.zeros(8, np.float32)
    _optim.adam(np.ones(8, np.float32), np.full(8, 1e-20, np.float32), m, v, 1.0, 0.9, 0.999, 1e-3, 1e-8)
    assert not v.any() and m.all()  # (1 - b2) g^2 = 1e-43 is flushed; (1 - b1) g = 1e-21 is not
    assert np.float32(2e-38) - np.float32(1.5e-38) != 0  # the caller's mode is back


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_configuration(name):
    model_kw, train_kw = preset(name)
    cfg = RNNConfig(vocab_size=50, **model_kw)
    tcfg = TrainConfig(**train_kw)
    assert cfg.to_dict()["cell"] == model_kw["cell"] and tcfg.to_dict()["optimizer"] == train_kw["optimizer"]
    model_kw["hidden"] = -1  # preset() hands out copies: the table itself is untouched
    assert preset(name)[0]["hidden"] != -1


def test_a_failed_checkpoint_write_stops_training_and_carries_the_model(tmp_path):
    from ngramkit.rnn import WriteFailed

    _, vocab, stream = periodic(30)
    model = tiny_model(vocab, stream)
    cfg = TrainConfig(batch=3, bptt=5, epochs=4, optimizer="adam", lr=0.01, schedule="none")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the checkpoint folder should be")
    seen = []
    with pytest.raises(WriteFailed) as err:
        train(model, stream, stream, cfg, checkpoint_dir=blocker / "ck", progress=seen.append)
    assert "cannot write the checkpoint folder" in str(err.value) and "after epoch 1 of 4" in str(err.value)
    result = err.value.result
    assert len(result.history) == 1 and result.best_valid_ppl == result.history[0]["valid_ppl"]
    # the carried model is the trained one: its valid ppl is the logged one
    assert float(np.exp(-result.model.log_probs(stream).mean())) == pytest.approx(result.best_valid_ppl, rel=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_fingerprint_tells_streams_apart():
    from ngramkit.rnn.train import fingerprint

    sents, vocab, stream = periodic(10)
    assert fingerprint(stream) == fingerprint(Stream.from_sentences([list(s) for s in sents], vocab))
    changed = [list(s) for s in sents]
    changed[3][2] = "a"
    assert fingerprint(Stream.from_sentences(changed, vocab)) != fingerprint(stream)
    other_vocab = Vocabulary.build(sents + [["f"]])  # same words in the text, another vocabulary
    assert fingerprint(Stream.from_sentences(sents, other_vocab)) != fingerprint(stream)


def test_resume_refuses_another_text_or_model(tmp_path):
    sents, vocab, stream = periodic(30)
    cfg = TrainConfig(batch=3, bptt=5, epochs=1, optimizer="adam", lr=0.01, schedule="none")
    train(tiny_model(vocab, stream), stream, stream, cfg, checkpoint_dir=tmp_path)
    more = TrainConfig(**{**cfg.to_dict(), "epochs": 2})
    other = Stream.from_sentences(sents[:-1], vocab)
    with pytest.raises(NgramkitError, match="the training text differs"):
        train(tiny_model(vocab, stream), other, stream, more, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(NgramkitError, match="the validation text differs"):
        train(tiny_model(vocab, stream), stream, other, more, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(NgramkitError, match="--hidden 12 in the checkpoint, 10 now"):
        train(tiny_model(vocab, stream, hidden=10), stream, stream, more, checkpoint_dir=tmp_path, resume=True)
    assert len(train(tiny_model(vocab, stream), stream, stream, more, checkpoint_dir=tmp_path,
                     resume=True).history) == 2


def _history(train_ppls, valid_ppls):
    return [{"epoch": i + 1, "train_ppl": t, "valid_ppl": v} for i, (t, v) in enumerate(zip(train_ppls, valid_ppls))]


@pytest.mark.parametrize("train_ppls, valid_ppls, cause", [
    ([900, 5e4], [1.2e3, 9e4], "training diverged: the learning rate (sgd lr 1) is too high"),  # train ppl grew
    ([2e3, 1.5e3], [3e3, 1.2e3], "too few epochs: validation perplexity was still falling after 2"),
    ([500, 100], [1.5e3, 2e3], "overfitting"),
])
def test_diagnose_names_the_likely_cause(train_ppls, valid_ppls, cause):
    from ngramkit.rnn import TrainResult
    from ngramkit.rnn.train import diagnose

    result = TrainResult(None, _history(train_ppls, valid_ppls), min(valid_ppls))
    message = diagnose(result, 1000, TrainConfig())
    assert "worse than a uniform guess over the 1,000-word vocabulary" in message and cause in message
    assert diagnose(TrainResult(None, _history([50], [999]), 999), 1000, TrainConfig()) is None  # better than uniform
    assert diagnose(TrainResult(None, _history([50], [None]), None), 1000, TrainConfig()) is None  # no validation
