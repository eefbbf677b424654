"""ngramkit.scan: the C text->ids fast path against the Python text pipeline.

Oracles: ``read_bytes`` (the blocks of a file joined give its bytes back),
``str.splitlines``/``str.split`` via ``read_sentences`` + ``Vocabulary.build``
+ ``Stream.from_sentences`` (the assembled arrays).
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from ngramkit import scan
from ngramkit import native
from ngramkit.stream import Stream
from ngramkit.text import TextOptions, read_bytes, read_sentences
from ngramkit.vocab import Vocabulary

TEXT = "alpha beta\r\ngamma  alpha\n\n\u2028delta beta\x0bbeta\nno newline at the end"


@pytest.fixture
def k():
    module = native.extension("_count")
    if module is None:
        pytest.skip("the C kernel ngramkit._count is not built")
    return module


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("block_bytes", [1, 5, 17, 1 << 20])
def test_file_blocks_end_at_line_ends_and_join_to_the_file(tmp_path, compressed, block_bytes):
    path = tmp_path / ("t.txt.gz" if compressed else "t.txt")
    data = (TEXT * 7).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compressed else data)
    blocks = list(scan.file_blocks(path, block_bytes))
    assert b"".join(blocks) == read_bytes(path) == data
    assert all(block.endswith(b"\n") for block in blocks[:-1]) and all(blocks)


@pytest.mark.parametrize("options", [TextOptions(), TextOptions(normalize="lower"), TextOptions(sentences=False)])
def test_scanned_blocks_assemble_to_the_python_pipeline(k, tmp_path, options):
    path = tmp_path / "t.txt"
    path.write_text((TEXT + "\n" + TEXT.upper() + "\n") * 3, encoding="utf-8")
    assert scan.fast_options(options)
    sentences = read_sentences(path, options)
    vocab = Vocabulary.build(sentences, min_count=2)
    want = Stream.from_sentences(sentences, vocab)
    for block_bytes in (11, 1 << 20):
        scans = list(scan.scan_blocks(k, path, options, block_bytes))
        ids, offsets, oov, got_vocab = scan.assemble(k, scans, options, None, min_count=2)
        assert got_vocab.words == vocab.words and sum(s.nbytes for s in scans) == path.stat().st_size
        np.testing.assert_array_equal(ids, want.ids)
        np.testing.assert_array_equal(offsets, want.offsets)
        np.testing.assert_array_equal(oov, want.oov)


def test_fast_options_and_source_size(tmp_path):
    assert scan.fast_options(TextOptions(encoding="UTF_8"))
    for options in (TextOptions(normalize="d2l"), TextOptions(tokenizer="char"), TextOptions(encoding="latin-1")):
        assert not scan.fast_options(options)
    path = tmp_path / "t.txt"
    path.write_bytes(b"abc\n")
    assert (scan.source_size(path), scan.source_size("-"), scan.source_size(tmp_path / "missing")) == (4, 0, 0)
