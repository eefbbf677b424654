"""What scoring a short text loads: no plotting, nltk, threadpoolctl or corpus registry unless asked for.

``ngramkit ppl`` on one line and ``import ngramkit.kenlm`` are start-up time
(issue 16): each test runs them in a fresh interpreter and reads its
``sys.modules`` afterwards (wall time is the benchmark's business:
``benchmarks/bench_query.py --startup``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from ngramkit import corpora, sources

HEAVY = ("matplotlib", "nltk", "threadpoolctl", "ngramkit.corpora")
SENTENCE = "the time traveller was expounding a recondite matter to us"  # 10 words: 11 tokens with </s>

# Runs in a new interpreter: the statements, then prints which of HEAVY (and of a few modules every scoring
# run needs, to show the check sees imports at all) are in sys.modules.
_PROBE = """
import json, sys
names = sys.argv[1:]
{body}
loaded = [m for m in names if m in sys.modules]
print("\\nMODULES " + json.dumps(loaded))
"""

_RUN_PPL = """
from ngramkit.cli.main import main
sys.argv = ["ngramkit", "ppl", *{args!r}]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""


def loaded_after(body: str, cwd) -> tuple[set, str]:
    """(modules of HEAVY + numpy/ngramkit.evaluate loaded after running ``body`` in a new interpreter, its stdout)."""
    code = _PROBE.format(body=textwrap.dedent(body))
    run = subprocess.run([sys.executable, "-c", code, *HEAVY, "numpy", "ngramkit.evaluate"], cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out, _, modules = run.stdout.rpartition("\nMODULES ")
    return set(json.loads(modules)), out


@pytest.fixture(scope="module")
def models(tmp_path_factory, timemachine_path):
    """A native 3-gram and its ARPA, trained on part of timemachine, and a one-line text to score."""
    from ngramkit.cli.main import cli

    folder = tmp_path_factory.mktemp("startup")
    lines = [ln for ln in timemachine_path.read_text().splitlines() if ln.strip()]
    (folder / "train.txt").write_text("\n".join(lines[:400]) + "\n")
    (folder / "one.txt").write_text(SENTENCE + "\n")
    for name in ("m.ngk", "m.arpa"):
        result = CliRunner().invoke(cli, ["train", "ngram", str(folder / "train.txt"), "--order", "3", "-q",
                                          "-o", str(folder / name)])
        assert result.exit_code == 0, result.output
    return folder


@pytest.mark.parametrize("model", ["m.ngk", "m.arpa"])
@pytest.mark.parametrize("extra", [[], ["--json"], ["--per-sentence", "--threads", "2"]])
def test_ppl_on_a_line_loads_nothing_heavy(models, model, extra):
    loaded, out = loaded_after(_RUN_PPL.format(args=["--model", model, "one.txt", "-q", *extra]), models)
    assert "numpy" in loaded and "ngramkit.evaluate" in loaded  # it did score
    assert ('"tokens": 11' in out) if "--json" in extra else ("tokens                   11" in out)
    assert not loaded & set(HEAVY), loaded


def test_a_registry_corpus_does_load_the_registry(models):
    """The check sees a lazily imported module: --corpus needs the registry, and loads it."""
    loaded, out = loaded_after(_RUN_PPL.format(args=["--model", "m.ngk", "--corpus", "timemachine", "-q"]), models)
    assert "ngramkit.corpora" in loaded and "perplexity" in out
    assert not loaded & {"matplotlib", "nltk", "threadpoolctl"}


@pytest.mark.parametrize("model", ["m.ngk", "m.arpa"])
def test_kenlm_module_loads_nothing_heavy(models, model):
    """A native file is opened from its mapping and scored in C: not even numpy is imported (it is most of a
    short process's start); an ARPA file is read into a model first (numpy, nothing heavier)."""
    loaded, out = loaded_after(f"""
        import ngramkit.kenlm
        model = ngramkit.kenlm.Model({model!r})
        print(round(model.score({SENTENCE!r}), 6), model.order,
              sum(1 for _ in model.full_scores({SENTENCE!r})), model.perplexity({SENTENCE!r}) > 1, "the" in model)
        state, out = ngramkit.kenlm.State(), ngramkit.kenlm.State()
        model.BeginSentenceWrite(state)
        print(model.BaseScore(state, "time", out) < 0, model.BaseFullScore(out, "traveller", state).ngram_length)
        """, models)
    assert ("numpy" in loaded) == (model == "m.arpa"), loaded
    assert not loaded & set(HEAVY), loaded
    score, order, scored, above_one, known, base, length = out.split()
    assert float(score) < 0 and order == "3" and scored == "11" and above_one == known == base == "True"
    assert 1 <= int(length) <= 3


def test_import_alone_loads_nothing_heavy(models):
    loaded, _ = loaded_after("import ngramkit.kenlm", models)
    assert not loaded & {*HEAVY, "numpy"}, loaded


def test_sources_names_the_registry_splits():
    """sources keeps its own copy of the split names (so that it need not import the registry): the same."""
    assert sources.SPLITS == corpora.SPLITS
