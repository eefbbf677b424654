"""--engine dask (ngramkit.distributed) on a LocalCluster of 2 worker processes.

Oracles: the one-machine results (NGramCounts.from_file, Model(N).fit), which
the rest of the suite checks against Counter and KenLM, and a naive Counter for
the counts themselves. Equality is exact: same arrays, same floats bit for bit,
same ARPA bytes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from ngramkit import NGramCounts, TextOptions, modelio, native, read_sentences  # noqa: E402
from ngramkit.arpa import arpa_bytes_iter  # noqa: E402
from ngramkit.distributed import client_for, count_dask, plan_partitions, train_dask, write_dask  # noqa: E402
from ngramkit.errors import InputError, NgramkitError, ParameterError  # noqa: E402
from ngramkit.models.interpolated import (AbsoluteDiscounting, Additive, KneserNey, ModifiedKneserNey,  # noqa: E402
                                          WittenBell)
from oracles import as_counter, naive_counts, write_slices  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning"),
              pytest.mark.skipif(native.extension("_count") is None,
                                 reason="--engine dask needs the C counting kernel (NGRAMKIT_IMPL=numpy or no build)")]


@pytest.fixture(scope="module")
def client():
    with client_for(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def valid(ptb_dir):
    return ptb_dir / "ptb.valid.txt"


def arpa(model) -> bytes:
    return b"".join(arpa_bytes_iter(model))


def assert_same_model(a, b):
    assert a.order == b.order and a.vocab == b.vocab
    for k in range(1, a.order + 1):
        assert np.array_equal(a.ngrams(k), b.ngrams(k))
        assert np.array_equal(a.keys(k), b.keys(k))
        # bit for bit: compare the float64 bytes (NaN of <s> included)
        assert a.logp10(k).tobytes() == b.logp10(k).tobytes()
        assert a.backoff10(k).tobytes() == b.backoff10(k).tobytes()
    assert a.fitted_ == b.fitted_
    assert arpa(a) == arpa(b)


# ---- counting --------------------------------------------------------------------------------------

@pytest.mark.parametrize("partition_bytes", [1 << 30, 50_000, 5_000])
def test_counts_equal_one_machine_ptb_valid_order5(client, valid, partition_bytes):
    parts = plan_partitions(valid, partition_bytes)
    assert len(parts) == -(-os.path.getsize(valid) // partition_bytes)
    got = count_dask(valid, 5, client=client, partition_bytes=partition_bytes)
    ref = NGramCounts.from_file(valid, 5)
    assert got == ref
    for k in range(1, 6):
        assert np.array_equal(got.parent(k), ref.parent(k))


def test_counts_equal_naive_counter(client, timemachine_path):
    got = count_dask(timemachine_path, 3, client=client, partition_bytes=3_000)
    assert as_counter(got) == naive_counts(read_sentences([timemachine_path]), 3)


def test_line_ends_blank_lines_and_no_final_newline(client, tmp_path):
    # Every kind of line end str.splitlines() knows, blank lines, a long line, no final newline: with
    # partitions of 1..7 bytes every cut lands somewhere awkward, and lines must still be counted once.
    text = "a b\r\nc d e\n\n\nb a\rx y\u2028a b c\x0bd\n" + "w " * 40 + "\n\n a  b \nlast line"
    path = tmp_path / "odd.txt"
    path.write_bytes(text.encode("utf-8"))
    ref = NGramCounts.from_file(path, 3)
    for size in range(1, 8):
        assert count_dask(path, 3, client=client, partition_bytes=size) == ref, size


def test_many_files_glob_url_and_options(client, timemachine_path, tmp_path):
    files = write_slices(timemachine_path, tmp_path, a=(0, 300), b=(300, 310), c=(310, 900))
    ordered = [files[n] for n in "abc"]
    opts = TextOptions(normalize="lower")
    ref = NGramCounts.from_file(ordered, 4, options=opts, min_count=2)
    got = count_dask(str(tmp_path / "*.txt"), 4, client=client, options=opts, min_count=2, partition_bytes=4_000)
    assert got == ref
    got = count_dask(["file://" + str(tmp_path / "[ab].txt"), files["c"]], 4, client=client, options=opts,
                     min_count=2, partition_bytes=4_000)
    assert got == ref


# ---- estimation --------------------------------------------------------------------------------------

@pytest.mark.parametrize("order,partition_bytes,buckets", [(3, 1 << 30, None), (3, 7_000, 3), (5, 30_000, None),
                                                           (5, 6_000, 5)])
def test_mkn_equals_one_machine_ptb_valid(client, valid, order, partition_bytes, buckets):
    ref = ModifiedKneserNey(order).fit(NGramCounts.from_file(valid, order))
    got = train_dask(valid, ModifiedKneserNey(order), client=client, partition_bytes=partition_bytes,
                     buckets=buckets)
    assert_same_model(got, ref)


@pytest.mark.parametrize("make", [lambda n: KneserNey(n), lambda n: AbsoluteDiscounting(n, discount=0.6),
                                  lambda n: ModifiedKneserNey(n, discounts=(0.4, 0.9, 1.3)),
                                  lambda n: WittenBell(n), lambda n: Additive(n, epsilons=[0.5, 1.0, 0.1, 2.0])])
def test_other_interpolated_models_equal_one_machine(client, timemachine_path, make):
    ref = make(4).fit(NGramCounts.from_file(timemachine_path, 4))
    got = train_dask(timemachine_path, make(4), client=client, partition_bytes=10_000)
    assert_same_model(got, ref)


def test_mkn_discount_fallback_and_its_error(client, tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("a b c\na c\nb b a c\n", encoding="utf-8")
    ref = ModifiedKneserNey(3, discount_fallback=True).fit(NGramCounts.from_file(path, 3))
    got = train_dask(path, ModifiedKneserNey(3, discount_fallback=True), client=client, partition_bytes=4)
    assert got.fallback_orders_ == ref.fallback_orders_ != []
    assert_same_model(got, ref)
    with pytest.raises(NgramkitError) as one:
        ModifiedKneserNey(3).fit(NGramCounts.from_file(path, 3))
    with pytest.raises(NgramkitError) as dask:
        train_dask(path, ModifiedKneserNey(3), client=client)
    assert str(dask.value) == str(one.value)


def test_unigram_model(client, timemachine_path):
    ref = ModifiedKneserNey(1).fit(NGramCounts.from_file(timemachine_path, 1))
    assert_same_model(train_dask(timemachine_path, ModifiedKneserNey(1), client=client, partition_bytes=20_000), ref)


# ---- writing from shards (write_dask) -------------------------------------------------------------

def assert_same_files(got, ref, tmp_path, **kw):
    """write_dask to .arpa and .ngk equals modelio.save_model of the one-machine model, byte for byte;
    nothing but the two files is left in the folder."""
    info = {"corpus": None, "files": ["x"], "n": 1}
    modelio.save_model(ref, tmp_path / "ref.arpa")
    modelio.save_model(ref, tmp_path / "ref.ngk", info=info)
    for name in ("dask.arpa", "dask.ngk"):
        before = sorted(p.name for p in tmp_path.iterdir())
        got_model = write_dask(kw["path"], got(), tmp_path / name, client=kw["client"], info=info,
                               **{k: v for k, v in kw.items() if k not in ("path", "client")})
        assert got_model.fitted_ == ref.fitted_
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted({*before, name})
    assert (tmp_path / "dask.arpa").read_bytes() == (tmp_path / "ref.arpa").read_bytes()
    assert (tmp_path / "dask.ngk").read_bytes() == (tmp_path / "ref.ngk").read_bytes()
    loaded = modelio.load_model(tmp_path / "dask.ngk")
    assert_same_model(loaded, modelio.load_model(tmp_path / "ref.ngk"))


@pytest.mark.parametrize("partition_bytes,buckets,shards", [(None, None, None), (7_000, 3, 1), (30_000, 5, 11)])
def test_write_dask_same_files_ptb_valid_order5(client, valid, tmp_path, partition_bytes, buckets, shards):
    ref = ModifiedKneserNey(5).fit(NGramCounts.from_file(valid, 5))
    assert_same_files(lambda: ModifiedKneserNey(5), ref, tmp_path, path=valid, client=client,
                      partition_bytes=partition_bytes, buckets=buckets, shards=shards)


@pytest.mark.parametrize("seed", range(4))
def test_write_dask_random_corpora(client, tmp_path, seed):
    """Random vocabularies, lengths (one-word and empty lines: orders with no n-gram at all), orders, shards
    (more shards than first words: empty shards)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(int(rng.integers(2, 30)))]
    lines = [" ".join(rng.choice(words, int(rng.integers(0, 3 if seed == 0 else 10))))
             for _ in range(int(rng.integers(10, 200)))]
    path = tmp_path / "text" / "r.txt"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    order = int(rng.integers(1, 6)) if seed else 5
    make = [lambda: ModifiedKneserNey(order, discount_fallback=True), lambda: KneserNey(order, discount=0.6),
            lambda: WittenBell(order), lambda: AbsoluteDiscounting(order, discount=0.7)][seed]
    ref = make().fit(NGramCounts.from_file(path, order))
    assert_same_files(make, ref, tmp_path, path=path, client=client, partition_bytes=int(rng.integers(50, 2_000)),
                      buckets=int(rng.integers(1, 6)), shards=int(rng.integers(1, 40)))


def test_write_dask_error_leaves_nothing(client, valid, tmp_path):
    """An error after the shards were written (here: the info function raises) leaves no file and no folder."""
    def bad_info(stats):
        assert stats["tokens"] == 73760
        raise NgramkitError("info failed")

    with pytest.raises(NgramkitError, match="info failed"):
        write_dask(valid, ModifiedKneserNey(3), tmp_path / "m.ngk", client=client, info=bad_info)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NgramkitError, match="not compressed"):
        write_dask(valid, ModifiedKneserNey(3), tmp_path / "m.ngk.gz", client=client)
    with pytest.raises(ParameterError, match="^shards "):
        write_dask(valid, ModifiedKneserNey(3), tmp_path / "m.ngk", client=client, shards=0)
    assert list(tmp_path.iterdir()) == []


# ---- failures --------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["train_dask", "write_dask"])
def test_killed_worker_changes_nothing(client, valid, tmp_path, entry):
    ref = ModifiedKneserNey(5).fit(NGramCounts.from_file(valid, 5))
    pids = client.run(os.getpid)  # worker address -> process id
    victim = sorted(pids.values())[0]
    state = {"running": True, "killed_while_running": None}

    def kill_when_busy():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(client.processing().values()):  # tasks are running on the workers
                break
            time.sleep(0.005)
        time.sleep(0.05)
        state["killed_while_running"] = state["running"]
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    try:
        if entry == "train_dask":
            got = train_dask(valid, ModifiedKneserNey(5), client=client, partition_bytes=3_000)
        else:  # the shards' writes rerun too: each writes the same bytes at the same place
            write_dask(valid, ModifiedKneserNey(5), tmp_path / "m.arpa", client=client, partition_bytes=3_000)
    finally:
        state["running"] = False
        killer.join()
    assert state["killed_while_running"] is True
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    if entry == "train_dask":
        assert_same_model(got, ref)
    else:
        assert (tmp_path / "m.arpa").read_bytes() == arpa(ref)
        assert [p.name for p in tmp_path.iterdir()] == ["m.arpa"]
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the tests after this one


def test_unreachable_scheduler_is_one_line():
    start = time.monotonic()
    with pytest.raises(InputError) as err:
        with client_for(scheduler="tcp://127.0.0.1:1", timeout=1):
            pass
    assert time.monotonic() - start < 30
    msg = str(err.value)
    assert msg.startswith("cannot reach the Dask scheduler at tcp://127.0.0.1:1") and "\n" not in msg


def test_worker_cannot_read_input(client, timemachine_path, tmp_path):
    path = tmp_path / "gone.txt"
    path.write_bytes(timemachine_path.read_bytes())
    plan = plan_partitions(path, 50_000)
    path.unlink()  # planned on the client, missing when the workers read it
    with pytest.raises(InputError) as err:
        count_dask(plan, 2, client=client)
    msg = str(err.value)
    assert msg.startswith(f"{path}: cannot read on Dask worker tcp://") and "\n" not in msg


def test_dask_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(NgramkitError, match=r"pip install 'ngramkit\[dask\]'$") as err:
        with client_for(workers=1):
            pass
    assert "\n" not in str(err.value)


def test_bad_inputs_and_options(client, tmp_path):
    with pytest.raises(InputError, match="nothere.txt: no such file"):
        count_dask(tmp_path / "nothere.txt", 2, client=client)
    with pytest.raises(InputError, match=r"\*.nope: no file matches this pattern"):
        count_dask(str(tmp_path / "*.nope"), 2, client=client)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty.txt: no tokens"):
        count_dask(empty, 2, client=client)
    with pytest.raises(ParameterError, match="^options "):
        count_dask(empty, 2, client=client, options=TextOptions(tokenizer="char"))
    with pytest.raises(ParameterError, match="^partition_bytes "):
        count_dask(empty, 2, client=client, partition_bytes=0)
    with pytest.raises(ParameterError, match="^model "):
        from ngramkit.models import StupidBackoff
        train_dask(empty, StupidBackoff(2), client=client)
    with pytest.raises(ParameterError, match="^workers "):
        with client_for(workers=0):
            pass


def test_readme_example(client, valid, tmp_path, monkeypatch):
    import contextlib
    import re
    from pathlib import Path

    import ngramkit.distributed as nd

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```py\n(.*?)```", readme, flags=re.S) if "ngramkit.distributed" in b]
    (tmp_path / "corpus").mkdir()
    write_slices(valid, tmp_path / "corpus", a=(0, 1500), b=(1500, 3370))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(nd, "client_for", lambda **kw: contextlib.nullcontext(client))  # the module's cluster
    exec(compile(block, "README.md", "exec"), {"__name__": "__main__"})
    files = sorted((tmp_path / "corpus").glob("*.txt"))
    ref = ModifiedKneserNey(5).fit(NGramCounts.from_file(files, 5))
    assert (tmp_path / "big.arpa").read_bytes() == arpa(ref)


def test_undecodable_bytes_in_a_later_partition_name_the_whole_file_offset(client, valid, tmp_path):
    path = tmp_path / "bad.txt"
    body = valid.read_bytes()
    path.write_bytes(body[:30_000] + b"caf\xe9 au lait\n" + body[30_000:60_000])
    with pytest.raises(InputError) as one:
        NGramCounts.from_file(path, 2)
    with pytest.raises(InputError) as dask:
        count_dask(path, 2, client=client, partition_bytes=8_000)
    assert str(dask.value) == str(one.value)
    assert "30003" in str(one.value)
