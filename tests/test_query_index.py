"""Native model files store the C scorer's probing index: opening one maps it, nothing is rebuilt or hashed.

Oracles: the fitted model's own scores (bit for bit: the stored index is the
one the fitted model builds), the same file without its index (an older
file: the index is built from the n-gram tables on load, as before), a
rebuild of the index (full verification), the file's size and
``/proc/self/status`` (what a process maps and touches). Corrupt indexes are
written byte by byte into the file (no checksum fixed): the query path
(``verify="auto"``) does not hash them, so the scorer itself must stay safe;
each run happens in a subprocess so that a crash would show as a signal.
"""

from __future__ import annotations

import json
import mmap
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import Stream, modelio, npzfile
from ngramkit.cli.main import cli
from ngramkit.errors import NgramkitError
from ngramkit.models import MODELS, ModifiedKneserNey
from ngramkit.models.lookup import PROBE_LAYOUT
from clierrors import error_line

nk = pytest.importorskip("ngramkit.kenlm")
pytestmark = pytest.mark.skipif(nk._score is None, reason="ngramkit._score (C extension) not built")


@pytest.fixture(scope="module")
def fitted(tm_counts):
    return ModifiedKneserNey(5).fit(tm_counts)


@pytest.fixture(scope="module")
def files(fitted, tm_counts, tmp_path_factory):
    """The model saved now (index stored), as an older file (no index), with an unknown index layout, and an
    MLE count model (no index to store)."""
    d = tmp_path_factory.mktemp("index")
    new = modelio.save_model(fitted, d / "new.ngk")
    meta, arrays = npzfile.read(new, npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    meta.pop("arrays")
    old_meta = json.loads(json.dumps(meta))
    old_meta["state"].pop("probe")
    npzfile.write(d / "old.ngk", old_meta, {k: a for k, a in arrays.items() if not k.startswith("probe")})
    future = json.loads(json.dumps(meta))
    future["state"]["probe"] = {"layout": PROBE_LAYOUT + 1}  # a newer layout: ignored and rebuilt, never misread
    npzfile.write(d / "future.ngk", future, arrays)
    mle = modelio.save_model(MODELS["mle"](3).fit(tm_counts), d / "mle.ngk")
    return {"new": new, "old": d / "old.ngk", "future": d / "future.ngk", "mle": mle}


@pytest.fixture(scope="module")
def lines(tm_sentences):
    return [" ".join(s) for s in tm_sentences[:150]] + ["", "the <s> time xyzzy </s> <unk>", "zzz " * 300]


def stream_of(lines, vocab):
    return Stream.from_sentences([line.split() for line in lines], vocab)


def data_span(path: Path, member: str) -> tuple[int, int]:
    """(offset, length) in the file of the array data of ``member`` (after the zip and .npy headers)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    header = np.lib.format.read_magic(_Reader(raw, start))
    reader = _Reader(raw, start + 8)
    np.lib.format.read_array_header_1_0(reader) if header == (1, 0) else np.lib.format.read_array_header_2_0(reader)
    return reader.pos, start + info.file_size - reader.pos


class _Reader:
    def __init__(self, raw, pos):
        self.raw, self.pos = raw, pos

    def read(self, n):
        self.pos += n
        return self.raw[self.pos - n: self.pos]


# ---- what is stored, and that loading uses it -------------------------------------------------------------


def test_saved_file_stores_the_index_and_scores_without_building_it(fitted, files, lines, monkeypatch):
    meta = modelio.read_metadata(files["new"])
    assert meta["state"]["probe"] == {"layout": PROBE_LAYOUT}
    assert {f"probe{k}.npy" for k in range(1, 6)} <= {e["file"] for e in meta["arrays"].values()}
    stream = stream_of(lines, fitted.vocab)
    expected = fitted.log_probs(stream)
    ref = nk.Model(files["old"])
    ref_scores = [ref.full_scores(line) for line in lines]
    ref_scores = [list(s) for s in ref_scores]

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the probing index was rebuilt")

    monkeypatch.setattr("ngramkit.models.backoff.probe_index", no_rebuild)
    for verify in (False, modelio.AUTO):
        loaded = modelio.load_model(files["new"], verify=verify)
        np.testing.assert_array_equal(loaded.log_probs(stream).view(np.int64), expected.view(np.int64))
    model = nk.Model(files["new"])
    assert [list(model.full_scores(line)) for line in lines] == ref_scores
    # the control: a file without the index does build it (so the patch above would have caught a rebuild)
    with pytest.raises(AssertionError, match="rebuilt"):
        modelio.load_model(files["old"], verify=False).log_probs(stream)


@pytest.mark.parametrize("kind", ["old", "future"])
@pytest.mark.parametrize("verify", [True, False, modelio.AUTO])
def test_files_without_a_usable_index_load_and_score_the_same(kind, verify, fitted, files, lines):
    stream = stream_of(lines, fitted.vocab)
    loaded = modelio.load_model(files[kind], verify=verify)
    np.testing.assert_array_equal(loaded.log_probs(stream).view(np.int64), fitted.log_probs(stream).view(np.int64))
    a, b = nk.Model(files[kind]), nk.Model(files["new"])
    assert all(a.score(line) == b.score(line) for line in lines)


def test_saving_is_deterministic_and_a_loaded_model_saves_its_index_unchanged(fitted, files, tmp_path):
    again = modelio.save_model(fitted, tmp_path / "again.ngk")
    assert again.read_bytes() == files["new"].read_bytes()
    for verify in (True, False):
        copy = modelio.save_model(modelio.load_model(files["new"], verify=verify), tmp_path / f"copy{verify}.ngk")
        assert copy.read_bytes() == files["new"].read_bytes()
    # an older file gains the index when converted (CLI convert: load, save)
    result = CliRunner().invoke(cli, ["convert", str(files["old"]), str(tmp_path / "converted.ngk")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "converted.ngk").read_bytes() == files["new"].read_bytes()


def root_base(arr):
    while isinstance(arr, np.ndarray) and arr.base is not None:
        arr = arr.base
    return arr.obj if isinstance(arr, memoryview) else arr


def test_the_query_model_maps_the_file_read_only(files):
    model = nk.Model(files["new"])
    _, arrays = model.backoff_model.get_state()
    for k in range(1, 6):
        table = arrays[f"probe{k}"]
        assert not table.flags.writeable and isinstance(root_base(table), mmap.mmap), k
    # the control: a copied load owns its tables
    _, copied = modelio.load_model(files["new"], mmap=False).get_state()
    assert copied["probe2"].flags.writeable and not isinstance(root_base(copied["probe2"]), mmap.mmap)


_RSS = """
import sys
import numpy as np
import ngramkit.kenlm as nk
from ngramkit import modelio

def rss(path):  # the resident pages of this process's mappings of the file (page cache, shared by processes)
    total, mine = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's first line
                mine = len(head) >= 6 and line.rstrip().endswith(path)
            elif mine and head[0] == "Rss:":
                total += int(head[1]) * 1024
    return total

path, touch = sys.argv[1], sys.argv[2] == "touch"
m = nk.Model(path)
assert "the" in m and m.order == 3
if touch:  # the control: read every array of the file
    _, arrays = m.backoff_model.get_state()
    sum(float(np.asarray(a).view(np.uint8).sum()) for a in arrays.values())
print(rss(path))
"""


def test_opening_touches_few_pages_of_the_file(ptb_dir, tmp_path):
    """The mapped pages grow with the pages touched, not with the file: opening a PTB trigram model (about
    60 MB) maps under a tenth of it; reading every array (the control) maps nearly all of it.

    (Scoring maps what its lookups touch, in the page cache's units: on recent kernels a fault maps the whole
    folio around the page, up to 2 MiB on ext4, so a few lookups can show as megabytes; not tested here.)"""
    from ngramkit import NGramCounts, Vocabulary, read_sentences

    train = read_sentences([ptb_dir / "ptb.train.txt"])
    vocab = Vocabulary.build(train)
    path = modelio.save_model(ModifiedKneserNey(3).fit(NGramCounts.from_stream(Stream.from_sentences(train, vocab),
                                                                                 3)), tmp_path / "ptb3.ngk")
    size = path.stat().st_size
    grow = {}
    for mode in ("open", "touch"):
        run = subprocess.run([sys.executable, "-c", _RSS, str(path), mode], capture_output=True,
                             text=True, timeout=300, cwd=tmp_path)  # not the repo root: import the installed package
        assert run.returncode == 0, run.stderr
        grow[mode] = int(run.stdout.split()[-1])
    assert grow["open"] < size / 10, (grow, size)
    assert grow["touch"] > size * 0.8, (grow, size)


# ---- what is checked when ------------------------------------------------------------------------------


def _flip(src: Path, dst: Path, member: str, offsets) -> Path:
    data = bytearray(src.read_bytes())
    start, length = data_span(src, member)
    for off in offsets:
        data[start + off % length] ^= 0x5A
    dst.write_bytes(bytes(data))
    return dst


def test_auto_trusts_only_files_that_store_the_index(files, tmp_path):
    """verify="auto" maps a file with a stored index without hashing it; any other file is fully verified."""
    flipped = _flip(files["new"], tmp_path / "new.ngk", "probe3.npy", [8 * 12345 + 3])
    modelio.load_model(flipped, verify=modelio.AUTO)  # loads: the index is not hashed on the query path
    with pytest.raises(NgramkitError, match=r"checksum mismatch in array 'probe3'"):
        modelio.load_model(flipped)  # full verification (the default) hashes it
    for kind, member in (("old", "logp10_2.npy"), ("mle", "counts2.npy")):
        bad = _flip(files[kind], tmp_path / f"{kind}.ngk", member, [5])
        with pytest.raises(NgramkitError, match=f"^{bad}: checksum mismatch"):
            modelio.load_model(bad, verify=modelio.AUTO)
        with pytest.raises(OSError, match="checksum mismatch"):
            nk.Model(bad)


def test_ppl_verify_flag_checks_the_index(files, tmp_path, lines):
    """A crafted file (checksums recomputed) whose index was tampered with: ppl maps and scores it (the
    numbers are the file's business), ppl --verify refuses it with one line naming the array."""
    meta, arrays = npzfile.read(files["new"], npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    meta.pop("arrays")
    arrays["probe2"][7] ^= 1 << 40
    crafted = npzfile.write(tmp_path / "crafted.ngk", meta, arrays)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(lines[:20]) + "\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["ppl", "-m", str(crafted), str(text), "-q"]).exit_code == 0
    for extra in ([], ["--per-word"]):
        line = error_line(runner.invoke(cli, ["ppl", "-m", str(crafted), str(text), "-q", "--verify", *extra]), 1)
        assert str(crafted) in line and "probe2" in line and "not the probing index" in line, line
    good = runner.invoke(cli, ["ppl", "-m", str(files["new"]), str(text), "-q", "--verify", "--json"])
    plain = runner.invoke(cli, ["ppl", "-m", str(files["new"]), str(text), "-q", "--json"])
    assert good.exit_code == plain.exit_code == 0 and good.stdout == plain.stdout


_SCORE_ALL = """
import sys, json
import numpy as np
import ngramkit.kenlm as nk
from ngramkit import Stream, modelio
from ngramkit.errors import NgramkitError

lines = json.loads(sys.argv[2])
for path in sys.argv[3:]:
    try:
        m = nk.Model(path)
    except OSError as exc:
        print("error", str(exc).splitlines()[0][:80])
        continue
    total = sum(m.score(line) for line in lines) + sum(p for line in lines for p, _, _ in m.full_scores(line, 0, 0))
    st, out = nk.State(), nk.State()
    m.BeginSentenceWrite(st)
    for w in " ".join(lines).split()[:2000]:
        total += m.BaseScore(st, w, out)
        st, out = out, st
    model = modelio.load_model(path, verify=sys.argv[1])
    lp = model.log_probs(Stream.from_sentences([line.split() for line in lines], model.vocab))
    print("scored", len(lp), repr(total), repr(float(np.nansum(lp))))
"""


def test_a_corrupt_index_never_crashes_the_scorer(files, lines, tmp_path):
    """Bytes of the stored index overwritten (checksums left stale: the query path does not hash): every
    lookup stays in the table, and a table without an empty slot (the lookups' end marker) still ends.
    Scores come out wrong but the process does not fault; full verification refuses each file."""
    rng = np.random.default_rng(16)
    src = files["new"]
    variants = []
    for k in (1, 2, 3, 4, 5):  # random bytes flipped in one table
        start, length = data_span(src, f"probe{k}.npy")
        variants.append(_flip(src, tmp_path / f"flip{k}.ngk", f"probe{k}.npy", rng.integers(0, length, 400)))
    data = bytearray(src.read_bytes())
    for k in (2, 3, 4, 5):  # every slot taken by a key that matches nothing: no empty slot anywhere
        start, length = data_span(src, f"probe{k}.npy")
        data[start: start + length] = b"\x41" * length
    (tmp_path / "full.ngk").write_bytes(bytes(data))
    variants.append(tmp_path / "full.ngk")
    data = bytearray(src.read_bytes())
    for k in (2, 3, 4, 5):  # plausible keys in the wrong places, NaN and huge values between them
        start, length = data_span(src, f"probe{k}.npy")
        words = np.frombuffer(bytes(data[start: start + length]), np.int64).copy()
        rng.shuffle(words)
        words[rng.integers(0, words.size, words.size // 10)] = rng.integers(-2**62, 2**62, words.size // 10)
        data[start: start + length] = words.tobytes()
    (tmp_path / "shuffled.ngk").write_bytes(bytes(data))
    variants.append(tmp_path / "shuffled.ngk")
    run = subprocess.run([sys.executable, "-c", _SCORE_ALL, modelio.AUTO, json.dumps(lines[:60]), *map(str, variants)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)  # the installed package
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])  # a negative code would be a signal
    results = run.stdout.splitlines()
    assert len(results) == len(variants) and all(r.startswith("scored") for r in results), results
    for path in variants:
        with pytest.raises(NgramkitError, match=f"^{path}: checksum mismatch in array 'probe"):
            modelio.load_model(path)
    # the CLI's query path on the worst file: a one-line result, no crash
    text = tmp_path / "text.txt"
    text.write_text("\n".join(lines[:30]) + "\n")
    from process import NGRAMKIT

    for path in (tmp_path / "full.ngk", tmp_path / "shuffled.ngk"):
        run = subprocess.run([*NGRAMKIT, "ppl", "-m", str(path), str(text), "-q", "--per-word"], capture_output=True,
                             text=True, timeout=600)
        assert run.returncode in (0, 1) and "Traceback" not in run.stderr, (run.returncode, run.stderr[-2000:])
