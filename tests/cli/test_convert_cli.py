"""`ngramkit convert`: ARPA <-> native. Oracles: the ARPA files themselves (KenLM's, and `train -o x.arpa`'s)."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from ngramkit.cli.main import cli
from oracles import write_slices


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def entries(text: str) -> dict:
    """{n-gram: (log10 prob, backoff or None)} of an ARPA text."""
    out, section = {}, False
    for line in text.splitlines():
        if line.endswith("-grams:"):
            section = True
            continue
        if not section or not line or line.startswith("\\"):
            continue
        parts = line.split("\t")
        out[parts[1]] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else None)
    return out


@pytest.fixture(scope="module")
def trained(timemachine_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv")
    train = write_slices(timemachine_path, folder, train=(100, 400), test=(400, 410))["train"]
    for out in ("m.ngk", "m.arpa"):
        result = run("train", "ngram", train, "-s", "mkn", "--order", 3, "-o", folder / out, "-q")
        assert result.exit_code == 0, result.stderr
    return folder


def test_native_to_arpa_is_what_train_writes_and_round_trips(trained, tmp_path):
    result = run("convert", trained / "m.ngk", tmp_path / "x.arpa", "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert (got["command"], got["format"], got["input_format"], got["order"]) == ("convert", "arpa", "native", 3)
    assert (tmp_path / "x.arpa").read_bytes() == (trained / "m.arpa").read_bytes()
    # ngramkit's ARPA -> native -> ARPA (and .arpa.gz): byte for byte
    assert run("convert", trained / "m.arpa", tmp_path / "y.ngk", "-q").exit_code == 0
    assert run("convert", tmp_path / "y.ngk", tmp_path / "y.arpa.gz", "-q").exit_code == 0
    assert gzip.decompress((tmp_path / "y.arpa.gz").read_bytes()) == (trained / "m.arpa").read_bytes()


def test_kenlm_arpa_round_trips_within_printed_precision(reference_dir, tmp_path):
    """lmplz's ARPA -> native -> ARPA: same n-grams, every value equal to ngramkit's printed precision (fixed
    point, 8 decimals; lmplz prints up to 9 significant digits), except <s>, which ngramkit writes as -99 (never predicted).
    Not byte-identical: the n-gram order and the digits differ."""

    def close(a, b):
        return abs(a - b) <= 5e-9 * (1 + 1e-6)

    src = reference_dir / "timemachine.d2l.o3.arpa.gz"
    assert run("convert", src, tmp_path / "t.ngk", "-q").exit_code == 0
    assert run("convert", tmp_path / "t.ngk", tmp_path / "t.arpa", "-q").exit_code == 0
    want = entries(gzip.decompress(src.read_bytes()).decode())
    got = entries((tmp_path / "t.arpa").read_text())
    assert set(got) == set(want)
    assert got.pop("<s>")[0] == -99 and want.pop("<s>")[0] == 0
    for key, (p, b) in want.items():
        gp, gb = got[key]
        assert close(gp, p), key
        assert (gb is None) == (b is None) and (b is None or close(gb, b)), key


def test_bad_inputs_are_one_line_errors_and_leave_nothing(trained, tmp_path, timemachine_path):
    counts = tmp_path / "c.ngc"
    assert run("count", timemachine_path, "--order", 2, "--output", counts, "-q").exit_code == 0
    cases = [
        (counts, tmp_path / "o1.ngk", 1, "counts"),
        (tmp_path / "missing.ngk", tmp_path / "o2.arpa", 1, "missing.ngk"),
        (trained / "m.ngk", tmp_path / "no" / "dir" / "o3.arpa", 1, "o3.arpa"),
        (trained / "m.ngk", tmp_path / "o4.ngk.gz", 1, "compressed"),
        (trained / "m.ngk", trained / "m.ngk", 2, "same file"),
    ]
    for src, dst, code, word in cases:
        result = run("convert", src, dst)
        assert result.exit_code == code, (src, dst, result.stderr)
        err = result.stderr.strip().splitlines()
        assert err[-1].startswith("Error:") and word in err[-1], err
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ngc"]
