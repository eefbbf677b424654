"""ngramkit: count, smooth, fit, measure and compare language models.

Layers (dependencies point down): ``text`` -> ``vocab`` -> ``stream`` ->
``counts`` -> ``evaluate`` -> ``lm`` (the contract every model implements) ->
``models`` / ``rnn`` -> ``zipf`` / ``arpa`` / ``compare``.
"""

from . import native
from .errors import NgramkitError

native.warn_missing()  # a kernel that was not built is a loud warning now, not a silent slowdown later

# The public names load on first use (PEP 562): `import ngramkit.cli.main` must not import numpy before the
# command-line program has installed its signal handlers (a Ctrl-C at start-up gave an import traceback).
_LAZY = {"NGramCounts": ".counts", "Stream": ".stream", "TextOptions": ".text", "read_sentences": ".text",
         "tokenize": ".text", "limit_threads": ".threads", "Vocabulary": ".vocab",
         "load_model": ".modelio", "save_model": ".modelio"}

__all__ = ["NGramCounts", "NgramkitError", "Stream", "TextOptions", "Vocabulary",
           "limit_threads", "load_model", "read_sentences", "save_model", "tokenize", "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("ngramkit")
        except PackageNotFoundError:  # running from a source tree
            value = "0.0.0+src"
    elif name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module 'ngramkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
