"""``ngramkit train``: fit a language model and write it to a file.

Subcommands: ``ngram`` (cli/train_ngram.py) and ``rnn`` (cli/train_rnn.py).
"""

from __future__ import annotations

import click

from .train_ngram import ngram
from .train_rnn import rnn


@click.group(epilog="Example:\n\n  ngramkit train ngram --corpus ptb --order 5 --smoothing mkn -o ptb.o5.ngk")
def train():
    """Fit a language model (n-gram or RNN) and save it.

    The output format follows the extension: .arpa or .arpa.gz for ARPA
    text, anything else (e.g. .ngk) for ngramkit's checksummed native format.
    """


train.add_command(ngram)
train.add_command(rnn)
