"""``--engine local|dask`` of ``ngramkit count`` and ``ngramkit train ngram``: the options and the Dask path.

The one place the engine is chosen. ``--engine dask`` counts (and fits) on a
dask.distributed cluster through :mod:`ngramkit.distributed`: ``--workers N``
starts a ``LocalCluster`` of N worker processes for the run, ``--scheduler
tcp://HOST:PORT`` uses an existing cluster. The results are those of the
local engine (the same counts file, the same model file bytes).

What the Dask path does not do is a usage error (exit 2) naming the option,
before any cluster starts: stdin, counts files, a ratio split of a one-file
corpus, non-interpolated smoothings, text options other than the C scanner's,
``--prune``/``--limit-vocab``, and ``--memory``/``--temp`` (the workers' memory
is Dask's: ``--memory-limit`` of ``dask worker``, or the LocalCluster's share
of RAM). Dask is imported only here, on this path; without it the error says
what to install.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import click

ENGINES = ("local", "dask")
SCHEDULER_TIMEOUT = 10.0  # seconds to reach --scheduler before giving up with a one-line error
# Options of the local engine the Dask path cannot honour: (parameter name, why).
_LOCAL_ONLY = {
    "memory": "the workers' memory is Dask's (dask worker --memory-limit; a LocalCluster shares the RAM)",
    "temp": "the workers spill to their own folders (Dask's temporary-directory)",
    "prune": "the Dask estimation does not prune; prune with the local engine",
    "limit_vocab": "the Dask estimation does not limit the vocabulary; use the local engine",
    "bits": "the workers write ARPA or native shards; quantise afterwards with ngramkit convert --quantize",
}


def engine_options(func):
    """``--engine local|dask``, ``--workers N``, ``--scheduler ADDRESS`` (the command gets engine, workers,
    scheduler)."""
    func = click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="--engine dask: the address of a running dask.distributed scheduler.")(func)
    func = click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                        help="--engine dask: start a local cluster of N worker processes for this run "
                             "[default: the CPU count].")(func)
    return click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                        help="local: this process (in memory or in blocks under --memory); dask: on a "
                             "dask.distributed cluster (pip install 'ngramkit[dask]'), the same result.")(func)


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source != click.core.ParameterSource.DEFAULT


@dataclass(frozen=True)
class DaskRun:
    """How to reach the cluster: ``workers`` processes started here, or the ``scheduler`` of a running one."""

    workers: int | None
    scheduler: str | None

    @property
    def label(self) -> str:
        if self.scheduler:
            return f"scheduler {self.scheduler}"
        n = self.workers or os.cpu_count() or 1
        return f"a local cluster of {n} worker process{'es' if n != 1 else ''}"

    def client(self):
        from ngramkit.distributed import client_for  # noqa: PLC0415 (dask: only on this path)

        return client_for(workers=self.workers, scheduler=self.scheduler, timeout=SCHEDULER_TIMEOUT)

    def json(self) -> dict:
        return {"name": "dask", "workers": self.workers, "scheduler": self.scheduler}


def choose(engine: str, workers, scheduler, *, local_only=()) -> DaskRun | None:
    """The run's engine from the options: None for local, else a :class:`DaskRun`; bad combinations are
    usage errors. ``local_only``: the command's parameters the Dask path refuses when given."""
    ctx = click.get_current_context()
    if engine != "dask":
        for name, value in (("workers", workers), ("scheduler", scheduler)):
            if value is not None:
                raise click.UsageError(f"--{name} applies only to --engine dask")
        return None
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers (a local cluster started for the run) or --scheduler "
                               "(a running cluster), not both")
    for name in local_only:
        if _given(ctx, name):
            flag = next((p.opts[0] for p in ctx.command.params if p.name == name), f"--{name.replace('_', '-')}")
            raise click.UsageError(f"{flag} does not apply to --engine dask: {_LOCAL_ONLY[name]}")
    return DaskRun(workers, scheduler)


def dask_inputs(source) -> list[str]:
    """The files (paths, globs, fsspec URLs) the workers read for ``source``; what they cannot read is a
    usage error."""
    from ngramkit.scan import fast_options  # noqa: PLC0415

    if "-" in source.files:
        raise click.UsageError("--engine dask cannot read stdin ('-'): the workers read the input files "
                               "themselves; give FILES")
    options = source.options
    if not options.sentences or not fast_options(options):
        raise click.UsageError("--engine dask reads text with the C scanner only: --tokenizer whitespace, "
                               "--normalize none or lower, --encoding utf-8, --errors strict, one sentence per "
                               "line (--sentences)")
    paths = source.paths()
    if paths is None:
        raise click.UsageError(f"--engine dask reads whole files; {source.title} is a part of one file: give "
                               "the file (or --split all)")
    from ngramkit.distributed import _distributed, expand_inputs  # noqa: PLC0415

    _distributed()  # installed? (else one line saying what to install)
    expand_inputs(paths)  # a missing file or a glob matching nothing fails here, before a cluster starts
    return [str(p) for p in paths]


class Summary:
    """What the commands print of a model counted and fitted on Dask (the local path prints it from the
    counts): vocabulary, totals, distinct n-grams per order."""

    def __init__(self, vocab, stats: dict):
        self.vocab = vocab
        self.n_tokens, self.n_sentences = stats["tokens"], stats["sentences"]
        self._distinct = stats["distinct"]

    def distinct(self, k: int) -> int:
        return int(self._distinct[k - 1])


def count(run: DaskRun, source, order: int, min_count: int, say):
    """Count orders 1..``order`` of ``source`` on the cluster: an :class:`~ngramkit.counts.NGramCounts`."""
    from ngramkit.distributed import count_dask  # noqa: PLC0415

    paths = dask_inputs(source)
    with run.client() as client:
        say(f"counting n-grams of orders 1..{order} of {source.label} on Dask ({run.label}) ...")
        return count_dask(paths, order, client=client, options=source.options, min_count=min_count)


def train(run: DaskRun, source, model, min_count: int, max_vocab, say, output, info: dict):
    """Count, fit ``model`` (interpolated) and write it to ``output`` on the cluster, from shards (the
    model's tables never meet in one process); (:class:`Summary`, seconds). ``info``: what the local engine
    stores in a native file before the token counts, which are added here."""
    from ngramkit.distributed import write_dask  # noqa: PLC0415
    from ngramkit.models.interpolated import InterpolatedModel  # noqa: PLC0415

    if not isinstance(model, InterpolatedModel):
        raise click.UsageError("--engine dask fits the interpolated smoothings (mkn, kn, absolute, witten-bell, "
                               "additive), not --smoothing " + _smoothing_name(model))
    paths = dask_inputs(source)
    t0 = time.perf_counter()
    stats: dict = {}
    with run.client() as client:
        say(f"counting, fitting {type(model).__name__} of order {model.order} and writing {output} on Dask "
            f"({run.label}) ...")
        write_dask(paths, model, output, client=client, options=source.options, min_count=min_count,
                   max_size=max_vocab, stats=stats,
                   info=lambda st: {**info, "train_tokens": st["tokens"], "train_sentences": st["sentences"]})
    return Summary(model.vocab, stats), time.perf_counter() - t0


def _smoothing_name(model) -> str:
    from ngramkit.models import MODELS  # noqa: PLC0415

    return next((name for name, cls in MODELS.items() if cls is type(model)), type(model).__name__)

