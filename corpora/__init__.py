"""The corpus registry: named corpora, their files, checksums, licences and splits.

Input: a corpus name (``timemachine``, the default, or ``ptb``) and a split
(``train``/``valid``/``test``/``all``). Output: sentences (lists of token
strings) read from a local, checksum-verified copy of the corpus files.

The facts (upstream URLs, sha256, sizes, licences, split rules, default text
options) live in ``registry.json`` beside this module.

Where files live: ``$NGRAMKIT_DATA`` if set, else the user cache directory
(``platformdirs.user_cache_dir("ngramkit")``), with the layout

    timemachine.txt
    ptb/ptb.train.txt  ptb/ptb.valid.txt  ptb/ptb.test.txt

Packaged copies: a registry file with a ``packaged`` entry (``timemachine.txt``,
as ``timemachine.txt.gz``, about 70 kB) also ships gzip-compressed inside this
package, so the default corpus works offline right after ``pip install``.
A file in the data folder wins; when it is missing, :func:`path` returns the
packaged ``.gz`` (every reader of ngramkit recognises gzip data), verified like
a download: its decompressed bytes must have the registry's size and sha256.

:func:`download` fetches missing files (``$NGRAMKIT_MIRROR`` or ``base_url``
replaces the upstream host: ``<base>/<relative path>``), verifies their
sha256 and renames them into place atomically: a failed, interrupted or
corrupt download leaves no file behind. Local copies are verified once per
process (the digest is cached by path, size, mtime and inode).

Split rules: ``ptb`` uses its own three files. ``timemachine`` is one file:
its non-empty lines after normalisation, in file order, go 80% / 10% / 10%
to train / valid / test (boundaries ``floor(0.8 S)`` and ``floor(0.9 S)``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from ngramkit.errors import CorpusError
from ngramkit.progress import DownloadProgress, Progress
from ngramkit.text import TextOptions, join_stream, read_sentences

__all__ = [
    "DEFAULT_CORPUS", "SPLITS", "CorpusSpec", "FileSpec", "data_dir", "download", "get",
    "is_downloaded", "is_packaged", "list_corpora", "load_split", "local_path", "names", "path", "paths",
    "split_bounds", "status",
]

DEFAULT_CORPUS = "timemachine"
SPLITS = ("train", "valid", "test", "all")
DATA_ENV = "NGRAMKIT_DATA"
MIRROR_ENV = "NGRAMKIT_MIRROR"
_CHUNK = 1 << 16
_TIMEOUT = 30.0  # seconds without data before a download is given up


@dataclass(frozen=True)
class FileSpec:
    """One file of a corpus."""

    name: str  # path relative to data_dir(), e.g. "ptb/ptb.train.txt"
    url: str  # upstream location
    sha256: str  # hex digest of the exact bytes
    size: int  # bytes
    packaged: str | None = None  # gzip-compressed copy shipped in this package (file name), if any


@dataclass(frozen=True, eq=False)
class CorpusSpec:
    """A registry entry (see ``registry.json``)."""

    name: str
    description: str
    licence: str
    homepage: str
    files: Mapping[str, FileSpec]  # relative path -> FileSpec, in registry order
    split_rule: str  # human-readable split rule
    split_files: Mapping[str, tuple[str, ...]] | None  # split -> relative paths (file-split corpora)
    split_ratios: tuple[float, float, float] | None  # train/valid/test by lines (one-file corpora)
    text_options: TextOptions  # default normalisation/tokenisation for this corpus

    @property
    def split(self) -> str:
        """The split rule (alias of ``split_rule``)."""
        return self.split_rule

    @property
    def license(self) -> str:
        """Alias of ``licence``."""
        return self.licence

    @property
    def size(self) -> int:
        """Total bytes of all files."""
        return sum(f.size for f in self.files.values())

    @property
    def layout(self) -> str:
        """The relative paths expected under the data directory."""
        return ", ".join(self.files)


@lru_cache(maxsize=1)
def _registry() -> dict[str, CorpusSpec]:
    raw = json.loads(resources.files(__name__).joinpath("registry.json").read_text(encoding="utf-8"))
    specs = {}
    for name, entry in raw["corpora"].items():
        files = {rel: FileSpec(rel, f["url"], f["sha256"], int(f["size"]), f.get("packaged"))
                 for rel, f in entry["files"].items()}
        split = entry["split"]
        split_files = split.get("files")
        ratios = split.get("ratios")
        specs[name] = CorpusSpec(
            name=name,
            description=entry["description"],
            licence=entry["licence"],
            homepage=entry.get("homepage", ""),
            files=MappingProxyType(files),
            split_rule=split["rule"],
            split_files=None if split_files is None
            else MappingProxyType({k: tuple(v) for k, v in split_files.items()}),
            split_ratios=None if ratios is None else tuple(float(r) for r in ratios),
            text_options=TextOptions(**entry.get("text_options", {})),
        )
    return specs


def names() -> list[str]:
    """Registry corpus names, sorted."""
    return sorted(_registry())


def list_corpora() -> list[CorpusSpec]:
    """All registry entries, sorted by name."""
    return [_registry()[n] for n in names()]


def get(name: str) -> CorpusSpec:
    """The registry entry for ``name``.

    >>> spec = get("ptb")
    >>> list(spec.files), spec.text_options.normalize, get("timemachine").text_options.normalize
    (['ptb/ptb.train.txt', 'ptb/ptb.valid.txt', 'ptb/ptb.test.txt'], 'none', 'd2l')
    """
    try:
        return _registry()[name]
    except KeyError:
        raise CorpusError(
            f"unknown corpus {name!r}; choose from {', '.join(names())} (see `ngramkit corpus list`)"
        ) from None


def data_dir() -> Path:
    """``$NGRAMKIT_DATA`` if set, else the user cache directory for ngramkit."""
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ngramkit"))


def _file_spec(spec: CorpusSpec, filename: str) -> FileSpec:
    if filename in spec.files:
        return spec.files[filename]
    matches = [f for rel, f in spec.files.items() if Path(rel).name == filename]
    if len(matches) == 1:
        return matches[0]
    raise CorpusError(
        f"corpus {spec.name!r} has no file {filename!r}; its files are {spec.layout}"
    )


def local_path(name: str, filename: str) -> Path:
    """Where a corpus file lives (or would live) under :func:`data_dir`; no checks."""
    return data_dir() / _file_spec(get(name), filename).name


# ---- verification -----------------------------------------------------------------------

_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) -> sha256 hex, once per process


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = _DIGESTS[key] = h.hexdigest()
    return digest


def _gunzip_sha256(path: Path, limit: int) -> tuple[int, str]:
    """(bytes, sha256 hex) of the decompressed content of a gzip file; stops past ``limit`` bytes."""
    st = path.stat()
    key = ("gunzip", str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    cached = _DIGESTS.get(key)
    if cached is not None:
        return cached
    h, n = hashlib.sha256(), 0
    with gzip.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += len(block)
            if n > limit:
                break
            h.update(block)
    result = _DIGESTS[key] = (n, h.hexdigest())
    return result


def _packaged(f: FileSpec) -> Path | None:
    """The gzip copy of ``f`` shipped inside this package, or None (none in the registry or not installed)."""
    if f.packaged is None:
        return None
    p = resources.files(__name__).joinpath(f.packaged)
    return p if isinstance(p, Path) and p.is_file() else None


def is_packaged(p: Path) -> bool:
    """True if ``p`` (as returned by :func:`path`) is a copy shipped inside the package."""
    return any(_packaged(f) == p for spec in _registry().values() for f in spec.files.values())


def _check_packaged(spec: CorpusSpec, f: FileSpec, p: Path) -> Path:
    """Verify a packaged copy like a download: its decompressed bytes have the registry's size and sha256."""
    fix = f"the ngramkit installation is damaged: reinstall it, or run `ngramkit corpus download {spec.name}`"
    try:
        size, digest = _gunzip_sha256(p, f.size)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise CorpusError(f"{p}: packaged copy of {f.name} is not readable gzip data ({exc}); {fix}") from None
    if size != f.size:
        shown = f"more than {f.size:,}" if size > f.size else f"{size:,}"
        raise CorpusError(f"{p}: packaged copy of {f.name} decompresses to {shown} bytes, expected {f.size:,}; {fix}")
    if digest != f.sha256:
        raise CorpusError(
            f"{p}: packaged copy of {f.name}: sha256 {digest[:16]}... does not match the registry's "
            f"{f.sha256[:16]}...; {fix}"
        )
    return p


def _not_downloaded(spec: CorpusSpec, p: Path) -> CorpusError:
    return CorpusError(
        f"corpus {spec.name!r} is not downloaded ({p} is missing): run `ngramkit corpus download {spec.name}`, "
        f"or set {DATA_ENV} to a folder holding {spec.layout}"
    )


def _check(spec: CorpusSpec, f: FileSpec) -> Path:
    p = data_dir() / f.name
    if not p.is_file():
        packaged = _packaged(f)
        if packaged is not None:
            return _check_packaged(spec, f, packaged)
        raise _not_downloaded(spec, p)
    size = p.stat().st_size
    if size != f.size:
        raise CorpusError(
            f"{p}: has {size:,} bytes, expected {f.size:,} (incomplete or a different version); "
            f"delete it and run `ngramkit corpus download {spec.name}`"
        )
    digest = _sha256(p)
    if digest != f.sha256:
        raise CorpusError(
            f"{p}: sha256 {digest[:16]}... does not match the registry's {f.sha256[:16]}...; "
            f"delete it and run `ngramkit corpus download {spec.name}`"
        )
    return p


def path(name: str, filename: str | None = None) -> Path:
    """Path of a local, checksum-verified copy of a corpus file.

    ``filename`` is a relative path (``ptb/ptb.train.txt``) or a bare file
    name (``ptb.train.txt``). Without it: the file of a one-file corpus, or
    the folder holding all files of a multi-file corpus (all verified).
    A file missing from :func:`data_dir` that the package ships is the
    packaged ``.gz`` copy (see :func:`is_packaged`).
    Raises :class:`CorpusError` saying how to get the file if it is missing.
    """
    spec = get(name)
    if filename is not None:
        return _check(spec, _file_spec(spec, filename))
    checked = [_check(spec, f) for f in spec.files.values()]
    if len(checked) == 1:
        return checked[0]
    return Path(os.path.commonpath([str(p.parent) for p in checked]))


def paths(name: str) -> list[Path]:
    """Paths of all files of a corpus, verified, in registry order."""
    spec = get(name)
    return [_check(spec, f) for f in spec.files.values()]


def status(name: str) -> str:
    """Where a corpus is read from.

    ``"yes"`` (every file in :func:`data_dir`, verified), ``"packaged"`` (the
    files missing there are the verified copies shipped in the package),
    ``"no"`` (some file is missing) or ``"corrupt"`` (a copy fails verification).
    """
    spec = get(name)
    packaged = False
    for f in spec.files.values():
        if not (data_dir() / f.name).is_file():
            if _packaged(f) is None:
                return "no"
            packaged = True
    try:
        paths(name)
    except CorpusError:
        return "corrupt"
    return "packaged" if packaged else "yes"


def is_downloaded(name: str) -> bool:
    """True when every file of the corpus is in :func:`data_dir` and verified (a packaged copy is not)."""
    return status(name) == "yes"


# ---- splits ------------------------------------------------------------------------------


def split_bounds(n_lines: int, ratios: tuple[float, float, float]) -> tuple[int, int]:
    """Line indices where valid and test begin: ``floor(r0 S)``, ``floor((r0 + r1) S)``.

    >>> split_bounds(100, (0.8, 0.1, 0.1))
    (80, 90)
    """
    # round() first so that 0.8 + 0.1 = 0.9000000000000001 does not move a boundary.
    a = int(round(ratios[0] * n_lines, 9))
    b = int(round((ratios[0] + ratios[1]) * n_lines, 9))
    return a, b


def load_split(name: str, split: str, options: TextOptions | None = None) -> list[list[str]]:
    """Sentences (lists of tokens) of one split of a registry corpus.

    ``options`` default to the corpus's own (``get(name).text_options``).
    With ``options.sentences`` False the split comes back as one stream.
    """
    spec = get(name)
    if split not in SPLITS:
        raise CorpusError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    options = spec.text_options if options is None else options
    if spec.split_files is not None:
        rels = list(spec.files) if split == "all" else list(spec.split_files[split])
        return read_sentences([path(name, rel) for rel in rels], options)
    # One-file corpus: split its sentences (non-empty lines) by the registry's ratios.
    sources = [path(name, rel) for rel in spec.files]
    lines = read_sentences(sources, options.with_(sentences=True))
    if split != "all":
        a, b = split_bounds(len(lines), spec.split_ratios)
        lines = {"train": lines[:a], "valid": lines[a:b], "test": lines[b:]}[split]
        if not lines:
            raise CorpusError(f"corpus {name!r}: split {split!r} is empty with these text options")
    return lines if options.sentences else join_stream(lines, options)


# ---- downloading ---------------------------------------------------------------------------

ProgressCallback = Callable[[str, int, int], None]  # (relative path, bytes done, bytes total)


def _url_for(f: FileSpec, base_url: str | None) -> str:
    base = base_url or os.environ.get(MIRROR_ENV, "").strip() or None
    if base is None:
        return f.url
    return f"{base.rstrip('/')}/{f.name}"


def _open_url(spec: CorpusSpec, url: str, fix: str):
    """``urlopen`` with every failure turned into one CorpusError line."""
    try:
        return urllib.request.urlopen(url, timeout=_TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise CorpusError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; {fix}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc or type(exc).__name__
        raise CorpusError(
            f"cannot download {spec.name!r} from {url} ({reason}); offline? Put {spec.layout} in a "
            f"folder and set {DATA_ENV} to it, or copy them into {data_dir()}"
        ) from None
    except ValueError as exc:  # e.g. "unknown url type" from a bad --base-url
        raise CorpusError(f"cannot download from {url!r}: {exc} (check --base-url / {MIRROR_ENV})") from None


def _fetch(spec: CorpusSpec, f: FileSpec, url: str, target: Path, report: ProgressCallback | None) -> None:
    """Stream ``url`` to a temporary file beside ``target``, verify, rename; nothing left on failure."""
    fix = f"nothing was saved; try again, or copy {f.name} into {data_dir()} (or set {DATA_ENV})"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise CorpusError(f"cannot write in {target.parent} ({exc.strerror or exc}); set {DATA_ENV} "
                          "to a writable folder") from None
    try:
        try:
            with os.fdopen(fd, "wb") as out, _open_url(spec, url, fix) as response:
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                total = expected or f.size
                h = hashlib.sha256()
                done = 0
                if report:
                    report(f.name, 0, total)
                while True:
                    try:
                        block = response.read(_CHUNK)
                    except (http.client.HTTPException, OSError) as exc:
                        raise CorpusError(
                            f"download of {url} was interrupted after {done:,} bytes ({type(exc).__name__}); {fix}"
                        ) from None
                    if not block:
                        break
                    done += len(block)
                    if done > f.size:
                        raise CorpusError(
                            f"download of {url} is larger than the registry's {f.size:,} bytes (wrong file?); {fix}"
                        )
                    h.update(block)
                    out.write(block)
                    if report:
                        report(f.name, done, total)
        except OSError as exc:  # network errors are handled above: this is the local disk
            raise CorpusError(f"cannot write {target} ({exc.strerror or exc}); {fix}") from None
        if expected is not None and done < expected:
            raise CorpusError(f"download of {url} was interrupted after {done:,} of {expected:,} bytes; {fix}")
        digest = h.hexdigest()
        if digest != f.sha256:
            raise CorpusError(
                f"download of {url} failed its checksum (sha256 {digest[:16]}..., expected "
                f"{f.sha256[:16]}..., {done:,} bytes); {fix}"
            )
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise CorpusError(f"cannot move the download to {target} ({exc.strerror or exc}); {fix}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sha256(target)  # remember the verified digest for this process


def download(
    name: str,
    *,
    progress: bool | ProgressCallback = True,
    base_url: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Download the files of a corpus into :func:`data_dir`; return their paths.

    Files already present and verified are kept (``force`` fetches them
    again). ``base_url`` (or ``$NGRAMKIT_MIRROR``) replaces the upstream
    locations by ``<base_url>/<relative path>``. ``progress`` is True (on stderr:
    :class:`ngramkit.progress.DownloadProgress`, a live bar on a terminal,
    one line per file otherwise), False, or a callback ``(relative path,
    bytes done, total)``.
    Raises :class:`CorpusError` on HTTP errors, no network, an interrupted
    transfer or a checksum mismatch, leaving no file behind.
    """
    spec = get(name)
    report = DownloadProgress(Progress()) if progress is True else (progress or None)
    root = data_dir()
    out = []
    for f in spec.files.values():
        target = root / f.name
        if not force and target.is_file():
            try:
                out.append(_check(spec, f))
                continue
            except CorpusError:
                pass  # corrupt or stale copy: fetch it again
        created = []
        parent = target.parent
        while not parent.exists():
            created.append(parent)
            parent = parent.parent
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CorpusError(
                f"cannot create {target.parent} ({exc.strerror or exc}); set {DATA_ENV} to a writable folder"
            ) from None
        if not os.access(target.parent, os.W_OK):
            raise CorpusError(f"{target.parent} is not writable; set {DATA_ENV} to a writable folder")
        try:
            _fetch(spec, f, _url_for(f, base_url), target, report)
        except BaseException:
            if progress is True:
                report.close()  # the error message starts on its own line
            for d in created:  # innermost first: remove only the folders this call made
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        out.append(target)
    return out
