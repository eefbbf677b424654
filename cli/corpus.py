"""``ngramkit corpus``: list, locate and download the registry's corpora."""

from __future__ import annotations

import click

from ngramkit import corpora
from ngramkit.progress import DownloadProgress

from .common import echo_json, info, json_option, known_corpus, progress_output, quiet_option


@click.group(epilog="Example:\n\n  ngramkit corpus download ptb && ngramkit corpus path ptb")
def corpus():
    """List, locate and download the named corpora of the registry.

    Files are kept in $NGRAMKIT_DATA if set, else in the user cache
    directory; $NGRAMKIT_MIRROR replaces the upstream download host.
    """


def _human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


@corpus.command("list", epilog="Example:\n\n  ngramkit corpus list --json")
@json_option
@quiet_option
def list_(as_json, quiet):
    """List the registry's corpora and whether they are downloaded.

    One row per corpus: name, number of files, total size, local status
    (yes: in the data directory; packaged: read from the copy shipped inside
    ngramkit; no; corrupt) and licence; --json adds URLs, split rules and text options.
    """
    rows = []
    for spec in corpora.list_corpora():
        rows.append({
            "name": spec.name,
            "default": spec.name == corpora.DEFAULT_CORPUS,
            "description": spec.description,
            "files": list(spec.files),
            "size_bytes": spec.size,
            "licence": spec.licence,
            "split_rule": spec.split_rule,
            "text_options": spec.text_options.to_dict(),
            "downloaded": corpora.status(spec.name),
            "packaged": any(f.packaged for f in spec.files.values()),
            "urls": [f.url for f in spec.files.values()],
        })
    if as_json:
        echo_json({"data_dir": str(corpora.data_dir()), "corpora": rows}, "corpus list")
        return
    table = [("name", "files", "size", "downloaded", "licence")]
    for r in rows:
        name = r["name"] + (" (default)" if r["default"] else "")
        table.append((name, str(len(r["files"])), _human_size(r["size_bytes"]), r["downloaded"], r["licence"]))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]),
                 row[3].ljust(widths[3]), row[4]]
        click.echo("  ".join(cells).rstrip())
    click.echo(f"\ndata directory: {corpora.data_dir()}")  # the table's footer: part of the result
    if any(r["downloaded"] == "packaged" for r in rows):
        click.echo("packaged: read from the gzip copy shipped inside ngramkit (offline; verified by sha256)")


@corpus.command(epilog="Example:\n\n  ngramkit corpus path ptb --file ptb.test.txt")
@click.argument("name", callback=known_corpus)
@click.option("--file", "filename", default=None, metavar="FILE",
              help="One file of the corpus (e.g. ptb.train.txt) instead of all of them.")
@quiet_option
def path(name, filename, quiet):
    """Print the local paths of a corpus's files.

    One verified path per line; fails with the fix if the corpus is not downloaded.
    A corpus shipped with ngramkit and not in the data directory prints the
    packaged gzip copy (and says so on stderr).
    """
    found = [corpora.path(name, filename)] if filename is not None else corpora.paths(name)
    for p in found:
        click.echo(str(p))
    if any(corpora.is_packaged(p) for p in found):
        info(quiet)(f"packaged: the gzip copy shipped inside ngramkit (not in {corpora.data_dir()}; "
                   f"`ngramkit corpus download {name}` puts a plain copy there)")


@corpus.command(epilog="Example:\n\n  ngramkit corpus download timemachine")
@click.argument("name", callback=known_corpus)
@click.option("--base-url", default=None, metavar="URL", envvar="NGRAMKIT_MIRROR",
              help="Fetch <URL>/<relative path> instead of the upstream URLs [env NGRAMKIT_MIRROR].")
@click.option("--force", is_flag=True, help="Download again even if a verified copy exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def download(name, base_url, force, quiet):
    """Download a corpus and verify its checksums.

    Missing files are fetched into the data directory with a progress bar on
    stderr, checked against the registry's sha256 and renamed into place; the
    paths are printed. A failed download leaves no file behind.
    """
    progress = False if quiet else DownloadProgress(progress_output())
    paths = corpora.download(name, progress=progress, base_url=base_url, force=force)
    for p in paths:
        click.echo(str(p))
