"""``ngramkit train rnn``: train an RNN language model and write it to a model file."""

from __future__ import annotations

import time
from pathlib import Path

import click
from click.core import ParameterSource

from ngramkit import jsonout, sources
from ngramkit import modelio
from ngramkit import rnn as R
from ngramkit.errors import NgramkitError
from ngramkit.fileio import check_writable
from ngramkit.progress import EpochProgress, token_unit
from ngramkit.rnn import presets
from ngramkit.rnn.train import (BEST, LAST, check_checkpoint_dir, check_resume_config, diagnose, load_checkpoint,
                                 remove_checkpoints, write_error_reason)

from .common import (command_errors, corpus_option, echo_json, FiniteFloat, json_option, progress_output,
                     text_options, threads_option)


@click.command(epilog="Examples:\n\n"
               "  ngramkit train rnn --corpus ptb --preset ptb-rnnlm -o ptb.rnn.ngk\n\n"
               "  ngramkit train rnn --corpus ptb --cell lstm --layers 2 --hidden 200 --bptt 20 --lr 1 "
               "--schedule step --decay-after 4 -o ptb.lstm.ngk\n\n"
               "  ngramkit train rnn book.txt --valid held-out.txt --cell gru --hidden 64 -o book.gru.ngk")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@corpus_option
@click.option("--preset", "preset_name", type=click.Choice(presets.names()), default=None,
              help="Start from a named recipe ("
                   + "; ".join(f"{p.name}: {p.summary}" for p in presets.PRESETS.values())
                   + "); explicit options override it. Default: picked from the data as `compare` does "
                     "(the corpus's recipe; for files, by level and size: see README).")
@click.option("--valid", "valid_file", type=click.Path(dir_okay=False), default=None,
              help="Validation text for FILES [default with --corpus: its valid split].")
@click.option("--cell", type=click.Choice(["rnn", "gru", "lstm"]), default="rnn", show_default=True,
              help="Recurrent cell: Elman tanh RNN, GRU or LSTM.")
@click.option("--hidden", type=click.IntRange(min=1), default=200, show_default=True, help="Hidden units H per layer.")
@click.option("--embed", type=click.IntRange(min=1), default=None, help="Embedding size E [default: H].")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True, help="Recurrent layers.")
@click.option("--tie-weights", is_flag=True, help="Share the embedding and the output word matrix (E = H).")
@click.option("--peephole", is_flag=True, help="Peephole connections: the LSTM gates also see the cell state.")
@click.option("--softmax", type=click.Choice(["full", "class"]), default="full", show_default=True,
              help="Output layer: full softmax, or Mikolov's class-based softmax.")
@click.option("--classes", type=click.IntRange(min=1), default=100, show_default=True,
              help="Frequency classes for --softmax class.")
@click.option("--class-binning", type=click.Choice(["freq", "sqrt", "exchange"]), default="freq", show_default=True,
              help="Classes hold equal unigram mass (freq: RNNLM's -old-classes) or equal sqrt-frequency "
                   "mass (sqrt: RNNLM's default; smaller classes, faster); exchange refines the freq classes "
                   "by the exchange algorithm on the training bigrams (words that follow the same words "
                   "share a class).")
@click.option("--batch", type=click.IntRange(min=1), default=20, show_default=True, help="Parallel sub-streams B.")
@click.option("--bptt", type=click.IntRange(min=1), default=35, show_default=True, help="Truncated-BPTT steps T.")
@click.option("--random-bptt", is_flag=True, help="Randomised segment lengths around --bptt (D2L).")
@click.option("--epochs", type=click.IntRange(min=1), default=13, show_default=True, help="Maximum epochs.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd", show_default=True, help="Optimiser.")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Learning rate [default: 1 for sgd, 0.002 for adam].")
@click.option("--schedule", type=click.Choice(["mikolov", "step", "none"]), default="mikolov", show_default=True,
              help="mikolov: halve lr once valid ppl stalls, stop at the next stall; step: --lr-decay per epoch "
                   "after --decay-after epochs; none: constant.")
@click.option("--lr-decay", type=FiniteFloat(0, 1, min_open=True), default=0.5, show_default=True,
              help="lr factor per epoch (--schedule step).")
@click.option("--decay-after", type=click.IntRange(min=0), default=4, show_default=True,
              help="Epochs at the initial lr (--schedule step).")
@click.option("--min-improvement", type=FiniteFloat(min=1), default=1.003, show_default=True,
              help="Required valid cross-entropy improvement factor per epoch (--schedule mikolov).")
@click.option("--patience", type=click.IntRange(min=0), default=3, show_default=True,
              help="Early stopping: epochs without a better valid ppl (0: never).")
@click.option("--clip", type=FiniteFloat(min=0), default=5.0, show_default=True,
              help="Clip the global gradient norm to this value (0: no clipping).")
@click.option("--dropout", type=FiniteFloat(0, 1, max_open=True), default=0.0, show_default=True,
              help="Dropout on non-recurrent connections (training only).")
@click.option("--init-scale", type=FiniteFloat(min=0, min_open=True), default=0.1, show_default=True,
              help="Initial weights uniform in [-s, s].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the weights, dropout and segmenting.")
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Words seen fewer times in training become <unk>.")
@click.option("--max-vocab", type=click.IntRange(min=4), default=None,
              help="Keep only the most frequent words (specials included).")
@click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False), default=None,
              help="Checkpoint directory (last.ngk, best.ngk) [default: MODEL.ckpt].")
@click.option("--resume", is_flag=True, help="Continue the interrupted run saved in the checkpoint directory.")
@click.option("--keep-checkpoints", is_flag=True,
              help="Keep the checkpoint directory after a successful run (default: removed once MODEL is written).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default=None,
              help="Write the per-epoch training log as JSON.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Model file (ngramkit's native format, e.g. ptb.rnn.ngk).")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@threads_option
@json_option
@text_options
@command_errors(memory="try a smaller --hidden, --embed, --layers or --batch, --softmax class, or a smaller "
                       "vocabulary (--min-count, --max-vocab)")
def rnn(files, corpus_name, preset_name, valid_file, cell, hidden, embed, layers, tie_weights, peephole, softmax, classes,
        class_binning, batch, bptt, random_bptt, epochs, optimizer, lr, schedule, lr_decay, decay_after, min_improvement, patience,
        clip, dropout, init_scale, seed, min_count, max_vocab, checkpoint_dir, resume, keep_checkpoints, log_path, output,
        quiet, as_json, **kwargs):
    """Train an RNN language model (tanh RNN, GRU or LSTM) and write it to a model file.

    Reads FILES (or a registry corpus's train split; default: the default
    corpus) as one continuous stream, sentences joined by </s>, and trains
    with stateful truncated BPTT on --batch parallel sub-streams, clipping
    the gradient norm. Validation text (--valid, or the corpus's valid
    split) drives the learning-rate schedule, early stopping and the choice
    of the best epoch, which is the model written to MODEL. Without --preset
    the recipe is picked from the data, as `compare` does, and named; the
    options below override it (their defaults are the values with no recipe).
    Checkpoints are written after every epoch and removed once MODEL is
    written (unless --keep-checkpoints); --resume continues an interrupted
    run with the same options and text. If a checkpoint or the log cannot be
    written, training stops, the best model so far is written to MODEL and
    the exit code is 1.
    """
    check_writable(output)
    if log_path:
        check_writable(log_path)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else Path(f"{output}.ckpt")
    created = check_checkpoint_dir(ckpt)  # the outermost folder this run will create, None if ckpt exists
    options = dict(cell=cell, hidden=hidden, embed=embed, layers=layers, tie_weights=tie_weights, peephole=peephole,
                   softmax=softmax, classes=classes, class_binning=class_binning, dropout=dropout,
                   init_scale=init_scale, seed=seed, batch=batch, bptt=bptt, random_bptt=random_bptt, epochs=epochs,
                   optimizer=optimizer, lr=lr, schedule=schedule, min_improvement=min_improvement, lr_decay=lr_decay,
                   decay_after=decay_after, clip=clip, patience=patience)
    # the recipe's fields win over the options' defaults, explicit options over the recipe
    ctx = click.get_current_context()
    options = {name: value for name, value in options.items()
               if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)}
    say = progress_output(quiet)  # messages, and the epoch lines below: one discipline for stderr
    t0 = time.perf_counter()
    source = sources.resolve(files, corpus_name, "train", kwargs)
    level = "char" if source.options.tokenizer == "char" else "word"
    for name in [preset_name] if preset_name else presets.compare_preset_choices(source.corpus, level):
        presets.resolve(name, options)  # bad options fail now, before any text is read
    if valid_file:
        valid_source = sources.resolve([valid_file], base=source.options)
    elif source.corpus is not None:
        valid_source = source.with_split("valid")
    else:
        valid_source = None
    label, text = source.label, source.options

    say("reading text ...")
    vocab = None
    if resume:
        say(f"resuming from {ckpt / LAST} ...")
        model = load_checkpoint(ckpt).model
        vocab = model.vocab
    stream = source.stream(vocab, min_count=min_count, max_size=max_vocab)
    vocab = stream.vocab
    if preset_name:
        why = "--preset"
    else:
        preset_name, why = presets.pick(source.corpus, level, stream.n_tokens)
    recipe = presets.resolve(preset_name, options)
    train_cfg = recipe.train
    say(f"recipe {recipe.preset} ({why}); explicit options override it")
    if valid_source is None and train_cfg.schedule == "mikolov":
        raise NgramkitError(f"--schedule mikolov (recipe {recipe.preset}) needs validation text: give --valid FILE "
                            "(or use --corpus), or choose --schedule step/none")
    valid = None if valid_source is None else valid_source.stream(vocab)
    if valid is not None and valid.n_tokens == 0:
        raise NgramkitError(f"{valid_file or 'valid split'}: the validation text is empty")
    if not resume:
        config = recipe.config(len(vocab))
        if config.softmax == "class" and config.class_binning == "exchange":
            say(f"exchange word classes ({config.classes} classes) ...")
        model = R.RNNLM.create(config, vocab, train_ids=stream.ids)
    else:
        check_resume_config(ckpt, model.config, recipe.config(len(vocab)))
    say(f"{model!r}; {stream.n_tokens:,} training tokens"
        + (f", {valid.n_tokens:,} validation tokens" if valid is not None else ""))
    try:
        progress = None if quiet else EpochProgress(say, unit=token_unit(text.tokenizer))
        result, failed = R.train(model, stream, valid, train_cfg, checkpoint_dir=ckpt, resume=resume,
                                 log_path=log_path, progress=progress), None
    except R.WriteFailed as exc:  # a checkpoint or the log could not be written: keep the model all the same
        result, failed = exc.result, exc
    info = {
        "corpus": source.corpus,
        "files": list(source.files),
        "valid_file": valid_file,
        "text_options": text.to_dict(),
        "min_count": min_count,
        "max_vocab": max_vocab,
        "train_tokens": stream.n_tokens,
        "train_sentences": stream.n_sentences,
        "train": train_cfg.to_dict(),
        "preset": recipe.preset,
        "best_valid_ppl": result.best_valid_ppl,
        "epochs_run": len(result.history),
        "stop_reason": result.stop_reason,
    }
    def cleanup():  # the checkpoints were for resuming; the model is written (or nothing is left to keep)
        remove_checkpoints(ckpt, created if created is not None or not resume else ckpt)

    _save(result, output, info, ckpt, failed, cleanup)
    if not keep_checkpoints:
        cleanup()
    if failed is not None:
        best = (f"epoch {result.history[-1]['epoch']}" if result.best_valid_ppl is None else
                f"valid ppl {result.best_valid_ppl:.2f}")
        raise NgramkitError(f"{failed}; the best model so far ({best}) was written to {output}")
    warning = diagnose(result, len(vocab), train_cfg)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    seconds = time.perf_counter() - t0
    train_seconds = sum(e["seconds"] for e in result.history)
    train_tokens = sum(e["tokens"] for e in result.history)
    summary = {
        "model_file": str(output),
        "model": result.model.name,
        "config": result.model.config.to_dict(),
        "params": result.model.n_params,
        "classes": result.model.n_classes,
        "train": train_cfg.to_dict(),
        **jsonout.source_fields(source),
        "text_options": text.to_dict(),
        "preset": recipe.preset,
        "vocab_size": len(vocab),
        "train_tokens": stream.n_tokens,
        "train_sentences": stream.n_sentences,
        "valid_tokens": None if valid is None else valid.n_tokens,
        "epochs": len(result.history),
        "best_valid_ppl": result.best_valid_ppl,
        "stop_reason": result.stop_reason,
        "tokens_per_second": train_tokens / train_seconds if train_seconds > 0 else None,
        "checkpoint_dir": str(ckpt),
        "wall_seconds": round(seconds, 3),
        # per epoch as the log file, under the shared JSON names (words_per_second counts tokens: words + </s>)
        "history": [{("tokens_per_second" if k == "words_per_second" else k): v for k, v in e.items()}
                    for e in result.history],
    }
    if as_json:
        echo_json(summary, "train rnn")
        return
    click.echo(f"model      {output} ({result.model!r})")
    click.echo(f"recipe     {recipe.preset} ({why})")
    click.echo(f"source     {label}: {stream.n_sentences:,} sentences, {stream.n_tokens:,} tokens, "
               f"vocabulary {len(vocab):,}")
    click.echo(f"epochs     {len(result.history)} ({result.stop_reason})")
    if result.best_valid_ppl is not None:
        click.echo(f"valid ppl  {result.best_valid_ppl:.2f} (best epoch)")
    if summary["tokens_per_second"]:
        click.echo(f"speed      {summary['tokens_per_second']:,.0f} {token_unit(text.tokenizer)}/s")
    click.echo(f"time       {seconds:.1f} s")


def _save(result, output, info: dict, ckpt: Path, failed, cleanup) -> None:
    """Write the model; if that fails, say in one line where the last good state is (checkpoints kept, if any)."""
    try:
        modelio.save_model(result.model, output, info=info)
    except (OSError, NgramkitError) as exc:
        if (ckpt / BEST).is_file():
            kept = f"; the best model so far is kept in {ckpt / BEST}"
        else:
            kept = ""
            cleanup()
        first = f"{failed}; " if failed is not None else ""
        reason = write_error_reason(exc, output)
        raise NgramkitError(f"{first}cannot write the model {output} ({reason}){kept}") from None
