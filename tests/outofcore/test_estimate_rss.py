"""Peak RSS of an out-of-core fit stays near its budget; the in-memory fit of the same counts (the control) does not.

Each fit runs in its own process and reads its peak from ``VmHWM`` (/proc/self/status), the peak of
its own address space: ru_maxrss would also count the parent's RSS at fork time (kept across exec),
here the pytest process holding the PTB counts:
modified Kneser-Ney order 5 on PTB train (2.3M n-grams, counts as mapped
``.npy`` files). The child reports its peak RSS minus its RSS before fitting
(interpreter, numpy, the vocabulary and the mappings).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ngramkit import NGramCounts

CHILD = textwrap.dedent('''
    import json, sys, tempfile
    from pathlib import Path
    import numpy as np
    from ngramkit import NGramCounts, Vocabulary
    from ngramkit.models import ModifiedKneserNey

    folder, memory = Path(sys.argv[1]), int(sys.argv[2])
    meta = json.loads((folder / "meta.json").read_text())
    arr = {(n, k): np.load(folder / f"{n}{k}.npy", mmap_mode="r") for k in range(1, 6)
           for n in ("ngrams", "counts", "parent")}
    counts = NGramCounts(Vocabulary.load(folder / "vocab.txt"),
                         *([arr[n, k] for k in range(1, 6)] for n in ("ngrams", "counts", "parent")), **meta)
    with open("/proc/self/statm") as fh:
        before = int(fh.read().split()[1]) * 4096 / 2**20
    with tempfile.TemporaryDirectory(dir=folder) as work:
        model = ModifiedKneserNey(5).fit(counts, memory=memory or None, workdir=work)
        with open("/proc/self/status") as fh:
            peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024
        print(json.dumps({"grew_mib": peak - before, "logp10_5": float(np.nansum(model.logp10(5)))}))
''')

BUDGET = 16 << 20
FIXED_MIB = 32  # order 1 (one row per word), bucket boundaries, numpy temporaries of a step


def _fit(tmp_path, memory):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = subprocess.run([sys.executable, str(script), str(tmp_path), str(memory)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_out_of_core_fit_peaks_near_its_budget_and_the_in_memory_fit_does_not(ptb_dir, tmp_path):
    counts = NGramCounts.from_file([ptb_dir / "ptb.train.txt"], 5)
    for k in range(1, 6):
        for name in ("ngrams", "counts", "parent"):
            np.save(tmp_path / f"{name}{k}.npy", getattr(counts, name)(k))
    counts.vocab.save(tmp_path / "vocab.txt")
    (tmp_path / "meta.json").write_text(json.dumps({"n_sentences": counts.n_sentences, "n_tokens": counts.n_tokens}))
    del counts
    chunked = _fit(tmp_path, BUDGET)
    in_memory = _fit(tmp_path, 0)
    bound = BUDGET / 2**20 + FIXED_MIB
    assert chunked["grew_mib"] < bound, f"the out-of-core fit grew {chunked['grew_mib']:.0f} MiB (bound {bound:.0f})"
    # Control: the in-memory fit of the same counts grows far past that bound, so the check above can fail.
    assert in_memory["grew_mib"] > 4 * bound, in_memory
    assert chunked["logp10_5"] == in_memory["logp10_5"]
