"""Reading pretrained word-vector files in one stream, keeping only the words asked for
(`read_word_vectors`) or a seeded sample of the whole vocabulary (`sample_word_vectors`).

Formats, as published:
- word2vec binary (GoogleNews-vectors-negative300): a header line `<count> <dim>`, then
  per word its UTF-8 bytes, a space, `dim` little-endian float32, and optionally a newline;
  plain or gzipped (`.gz`).
- text (fastText `.vec`, GloVe `.txt`, ConceptNet Numberbatch `.txt.gz`): one word per
  line followed by its numbers, separated by spaces; fastText and Numberbatch start with
  a `<count> <dim>` header, GloVe does not. Plain, gzipped, or a member of a `.zip`.
- with `concept_prefix`, words of multilingual Numberbatch look like `/c/en/dog`: the
  English ones lose the prefix, the other languages are skipped.

Words are compared as bytes and only the kept words' numbers are decoded, so a
3M-word file is read at disk (or gunzip) speed and memory holds the kept vectors plus
one read buffer, never the whole table. Multi-word phrases (`New_York`, `ice_cream`)
are read like any word; captions' tokens, which never contain `_`, do not match them.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from tie.errors import TieError
from tie.text.vocabulary_sample import SeededSample
from tie.text.word_vectors import WordVectors

FORMATS = ("word2vec_binary", "text")
READ_BYTES = 16 << 20
PROGRESS_EVERY = 100_000
ENGLISH_CONCEPT = b"/c/en/"


@contextmanager
def open_stream(path: Path, member: str | None = None) -> Iterator[BinaryIO]:
    """The decompressed bytes of `path` (a `.gz`, a `member` of a `.zip`, or plain)."""
    path = Path(path)
    if member is not None:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                raise TieError(f"{path} has no {member}; it holds {', '.join(archive.namelist())}")
            with archive.open(member) as stream:
                yield stream
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            yield stream
    else:
        with open(path, "rb") as stream:
            yield stream


def read_word_vectors(
    path: Path,
    wanted: set[str],
    file_format: str,
    member: str | None = None,
    concept_prefix: bool = False,
) -> WordVectors:
    """The vectors of the words of `wanted` found in `path` (first occurrence wins)."""
    wanted_bytes = {w.encode("utf-8") for w in wanted}
    found = {}
    with _open_table(path, file_format, member, concept_prefix) as table:
        for word, numbers in table:
            if word in wanted_bytes and word not in found:
                found[word] = table.vector(word, numbers)
    words = sorted(found)
    vectors = np.array([found[w] for w in words], dtype=np.float32)
    return WordVectors([w.decode("utf-8") for w in words], vectors.reshape(len(words), table.dim))


def sample_word_vectors(
    path: Path,
    size: int,
    seed: int,
    file_format: str,
    member: str | None = None,
    concept_prefix: bool = False,
) -> WordVectors:
    """A seeded sample of `size` words of the whole table in `path`, with their vectors
    (all of its words if it has fewer; see `tie.text.vocabulary_sample`)."""
    sample = SeededSample(size=size, seed=seed)
    with _open_table(path, file_format, member, concept_prefix) as table:
        for word, numbers in table:
            if sample.admits(word):
                sample.add(word, table.vector(word, numbers))
    return sample.word_vectors()


@contextmanager
def _open_table(path, file_format, member, concept_prefix) -> Iterator[_Table]:
    """The table in `path` to iterate once; a truncated or corrupt file is a TieError."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown word-vector format {file_format!r}; valid: {FORMATS}")
    table_class = _BinaryTable if file_format == "word2vec_binary" else _TextTable
    with open_stream(path, member) as stream:
        try:
            yield table_class(stream, Path(path), concept_prefix)
        except (EOFError, gzip.BadGzipFile, zipfile.BadZipFile) as error:
            raise TieError(
                f"{path} is truncated or corrupt ({error}): delete it and fetch it again"
            ) from error


def _header(line: bytes) -> tuple[int, int] | None:
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _strip_concept(word: bytes) -> bytes | None:
    """`/c/en/dog` -> `dog`; another language's concept -> None; a plain word unchanged."""
    if word.startswith(b"/c/"):
        return word[len(ENGLISH_CONCEPT) :] if word.startswith(ENGLISH_CONCEPT) else None
    return word


class _Table:
    """One pass over a word-vector file: iterating yields (word, its undecoded numbers);
    `vector` decodes the numbers of a word that is kept. Words of another language
    (`concept_prefix`) are not yielded."""

    dim: int
    total: int | None  # words in the file, when its header says


class _BinaryTable(_Table):
    def __init__(self, stream: BinaryIO, path: Path, concept_prefix: bool):
        header = _header(stream.readline())
        if header is None:
            raise TieError(f"{path} does not start with a word2vec `<count> <dim>` header")
        self.total, self.dim = header
        self.stream, self.path, self.concept_prefix = stream, path, concept_prefix

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        record = 4 * self.dim
        buffer, pos = b"", 0
        with tqdm(total=self.total, desc=self.path.name, unit="word", unit_scale=True) as bar:
            for k in range(self.total):
                space = buffer.find(b" ", pos)
                while space < 0 or len(buffer) - space - 1 < record:
                    chunk = self.stream.read(READ_BYTES)
                    if not chunk:
                        raise EOFError(f"ends after {k} of {self.total} words")
                    buffer, pos = buffer[pos:] + chunk, 0
                    space = buffer.find(b" ", pos)
                word = buffer[pos:space].lstrip(b"\n")
                start = space + 1
                pos = start + record
                if self.concept_prefix:
                    word = _strip_concept(word)
                if word is not None:
                    yield word, buffer[start:pos]
                if k % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                    bar.update(PROGRESS_EVERY)
            bar.update(self.total % PROGRESS_EVERY)

    def vector(self, word: bytes, numbers: bytes) -> np.ndarray:
        return np.frombuffer(numbers, dtype="<f4").copy()


class _TextTable(_Table):
    def __init__(self, stream: BinaryIO, path: Path, concept_prefix: bool):
        self.first = stream.readline()
        if not self.first:
            raise TieError(f"{path} is empty")
        header = _header(self.first)
        self.total, self.dim = header if header else (None, len(self.first.split()) - 1)
        self.stream, self.path, self.concept_prefix = stream, path, concept_prefix

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        lines = self.stream if self.total is not None else _chain(self.first, self.stream)
        with tqdm(total=self.total, desc=self.path.name, unit="word", unit_scale=True) as bar:
            for k, line in enumerate(lines):
                word, _, numbers = line.partition(b" ")
                if self.concept_prefix:
                    word = _strip_concept(word)
                if word is not None:
                    yield word, numbers
                if k % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                    bar.update(PROGRESS_EVERY)
            bar.update(bar.total - bar.n if bar.total else 0)

    def vector(self, word: bytes, numbers: bytes) -> np.ndarray:
        values = numbers.split()
        if len(values) != self.dim:
            raise TieError(
                f"{self.path}: the line of {word.decode(errors='replace')!r} has"
                f" {len(values)} numbers, expected {self.dim}"
            )
        return np.array(values, dtype=np.float32)


def _chain(first: bytes, rest: BinaryIO) -> Iterator[bytes]:
    yield first
    yield from rest
