"""ngramkit: count, smooth, fit, measure and compare language models.

Layers (dependencies point down): ``text`` -> ``vocab`` -> ``stream`` ->
``counts`` -> ``evaluate`` -> ``lm`` (the contract every model implements) ->
``models`` / ``rnn`` -> ``zipf`` / ``arpa`` / ``compare``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ngramkit")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"

from .counts import NGramCounts
from .errors import NgramkitError
from .modelio import load_model, save_model
from .stream import Stream
from .text import TextOptions, read_sentences, tokenize
from .threads import limit_threads
from .vocab import Vocabulary

__all__ = ["NGramCounts", "NgramkitError", "Stream", "TextOptions", "Vocabulary",
           "limit_threads", "load_model", "read_sentences", "save_model", "tokenize", "__version__"]
