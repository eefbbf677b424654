"""``ngramkit compare``: n-gram models and RNNs on the same streams, one perplexity report."""

from __future__ import annotations

import click

from ngramkit.compare import compare as run_compare
from ngramkit.compare.run import check_out_dir, save_report
from ngramkit.compare.specs import parse_models
from ngramkit.errors import NgramkitError
from ngramkit.fileio import PLOT_SUFFIXES, check_output_path

from .common import (command_errors, FiniteFloat, json_option, known_corpus, progress_output, text_options,
                     threads_option)

_TEXT_OPTION_NAMES = ("normalize", "tokenizer", "pattern", "sentences", "encoding", "errors")
# RNN fields set by the --rnn-* options: the library's errors name the field (hidden), the user typed --rnn-hidden.
_RNN_OPTIONS = ("hidden", "embed", "layers", "softmax", "classes", "optimizer", "lr", "batch", "bptt", "clip",
                "dropout")


def _check_models(ctx, param, value):
    """--models is parsed now, so a bad spec is a usage error before any text is read."""
    if value is not None:
        try:
            parse_models(value)
        except NgramkitError as exc:
            raise click.BadParameter(str(exc).removeprefix("--models: "), ctx=ctx, param=param) from None
    return value


@click.command(
    "compare",
    short_help="Perplexity report: n-gram models vs the RNN, same tokens.",
    epilog="""\b
Examples:
  ngramkit compare                                  # timemachine, word level, < 3 minutes
  ngramkit compare --corpus ptb --markdown ptb.md   # PTB splits, PTB-sized RNN
  ngramkit compare --level char --models laplace:1-3,mkn:5,rnn
  ngramkit compare --train a.txt --valid b.txt --test c.txt --models mkn:3,lstm --epochs 5 --out runs/x
""",
)
@click.option("--corpus", "corpus_name", default=None, metavar="NAME", callback=known_corpus,
              help="A registry corpus (see `ngramkit corpus list`) [default: timemachine].")
@click.option("--train", "train_files", multiple=True, metavar="FILE",
              help="Training text (repeatable); with --valid and --test instead of --corpus.")
@click.option("--valid", "valid_files", multiple=True, metavar="FILE", help="Validation text (repeatable).")
@click.option("--test", "test_files", multiple=True, metavar="FILE", help="Test text (repeatable).")
@click.option("--models", "models_spec", default=None, metavar="SPEC", callback=_check_models,
              help="Rows to run, e.g. laplace:1-3,mkn:3,mkn:5,rnn,gru,lstm:200 "
                   "[default: laplace:1-3,mkn:3,mkn:5,rnn; char level: laplace:1-3,mkn:3,mkn:5,mkn:7,rnn].")
@click.option("--level", type=click.Choice(["word", "char"]), default="word", show_default=True,
              help="Word- or character-level models (char: the D2L chapter's setting).")
@text_options
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Training words seen fewer times become <unk> (shared vocabulary).")
@click.option("--rnn-hidden", type=click.IntRange(min=1), default=None, help="RNN hidden units H [default: the corpus preset].")
@click.option("--rnn-embed", type=click.IntRange(min=1), default=None, help="RNN embedding size E [default: H].")
@click.option("--rnn-layers", type=click.IntRange(min=1), default=None, help="Recurrent layers [default: preset].")
@click.option("--rnn-softmax", type=click.Choice(["full", "class"]), default=None,
              help="Full softmax or Mikolov's class softmax [default: preset].")
@click.option("--rnn-classes", type=click.IntRange(min=1), default=None, help="Classes of the class softmax [default: preset].")
@click.option("--rnn-optimizer", type=click.Choice(["sgd", "adam"]), default=None, help="[default: preset]")
@click.option("--rnn-lr", type=FiniteFloat(), default=None, help="Learning rate [default: preset].")
@click.option("--rnn-batch", type=click.IntRange(min=1), default=None, help="Parallel sub-streams B [default: preset].")
@click.option("--rnn-bptt", type=click.IntRange(min=1), default=None, help="Truncated-BPTT length T [default: preset].")
@click.option("--rnn-clip", type=FiniteFloat(), default=None, help="Gradient-norm clip (0: off) [default: preset].")
@click.option("--rnn-dropout", type=FiniteFloat(), default=None, help="Dropout [default: preset].")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Maximum RNN epochs [default: preset].")
@click.option("--interpolate/--no-interpolate", default=True, show_default=True,
              help="Add the RNN + best n-gram linear interpolation row (weight tuned on valid).")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Seeds RNN weights and training.")
@threads_option
@json_option
@click.option("--markdown", "markdown_path", metavar="PATH", default=None,
              help="Write the report as Markdown.")
@click.option("--csv", "csv_path", metavar="PATH", default=None, help="Write the table as CSV.")
@click.option("--plot", "plot_path", metavar="PATH", default=None,
              help="Write the figure (.png, .svg or .pdf).")
@click.option("--title", default=None, metavar="TEXT", help="Title of the figure [default: corpus and level].")
@click.option("--out", "out_dir", metavar="DIR", default=None,
              help="Directory for every trained model, report.{json,md,csv} and compare.png.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@command_errors(memory="try a smaller --rnn-hidden or --rnn-batch, --rnn-softmax class, lower --models orders, "
                       "or a larger --min-count",
                aliases={name: f"rnn_{name}" for name in _RNN_OPTIONS})
def compare(corpus_name, train_files, valid_files, test_files, models_spec, level, min_count, epochs,
            interpolate, seed, as_json, markdown_path, csv_path, plot_path, title, out_dir, quiet, **kwargs):
    """Train n-gram models and an RNN on one corpus and report their perplexities.

    All models share one vocabulary built on the training split and score
    exactly the same valid and test tokens (every word and every </s>).
    The table gives size, parameters, training time, scoring speed,
    valid/test perplexity, bits/token and OOV rate; the footer has what is
    needed to repeat the run.
    """
    # Fail on unwritable outputs now, not after minutes of training.
    if markdown_path:
        check_output_path(markdown_path, "--markdown")
    if csv_path:
        check_output_path(csv_path, "--csv")
    if plot_path:
        check_output_path(plot_path, "--plot", PLOT_SUFFIXES, kind="figure")
    if out_dir:
        check_out_dir(out_dir, "--out")  # created only when the results are saved

    text = {name: kwargs.pop(name, None) for name in _TEXT_OPTION_NAMES}
    if text["encoding"] == "utf-8":
        text["encoding"] = None  # the default: keep the corpus's
    if text["errors"] == "strict":
        text["errors"] = None
    rnn = {name[len("rnn_"):]: value for name, value in kwargs.items() if name.startswith("rnn_")}
    echo_err = progress_output(quiet)  # messages; the RNN's epoch lines go through it too

    report = run_compare(
        corpus_name,
        train=list(train_files) or None,
        valid=list(valid_files) or None,
        test=list(test_files) or None,
        models=models_spec,
        level=level,
        text_options=text,
        min_count=min_count,
        rnn=rnn,
        epochs=epochs,
        interpolate=interpolate,
        seed=seed,
        progress=echo_err,
        rnn_progress=not quiet,
        keep_models=bool(out_dir),
    )
    if markdown_path:
        report.write_markdown(markdown_path)
        echo_err(f"wrote {markdown_path}")
    if csv_path:
        report.write_csv(csv_path)
        echo_err(f"wrote {csv_path}")
    if plot_path:
        report.plot(plot_path, title=title)
        echo_err(f"wrote {plot_path}")
    if out_dir:
        written = save_report(report, out_dir, title=title)
        echo_err(f"wrote {len(written)} files to {out_dir}")
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(report.to_text(), nl=False)
