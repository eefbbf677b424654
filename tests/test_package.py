"""The package's top level: ``ngramkit.load_model``/``save_model`` and ``python -m ngramkit``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import ngramkit
from ngramkit.models import ModifiedKneserNey


def test_load_and_save_model_at_top_level(tmp_path):
    from ngramkit import corpora, modelio

    tm_sentences = corpora.load_split("timemachine", "train")

    assert ngramkit.load_model is modelio.load_model and ngramkit.save_model is modelio.save_model
    assert {"load_model", "save_model"} <= set(ngramkit.__all__)
    model = ModifiedKneserNey(3).fit_sentences(tm_sentences[:300])
    for name in ("m.ngk", "m.arpa"):
        ngramkit.save_model(model, tmp_path / name)
        loaded = ngramkit.load_model(tmp_path / name)
        test = loaded.as_stream(tm_sentences[300:330])
        np.testing.assert_allclose(loaded.log_probs(test), model.log_probs(test), rtol=1e-6, atol=1e-6)


def test_python_dash_m_runs_the_cli(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ngramkit", "--version"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ngramkit, version {ngramkit.__version__}"
    bad = subprocess.run([sys.executable, "-m", "ngramkit", "count", "--no-such-option"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "No such option" in bad.stderr and "Traceback" not in bad.stderr
