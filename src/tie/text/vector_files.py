"""Reading pretrained word-vector files in one stream, keeping only the words asked for.

Formats, as published:
- word2vec binary (GoogleNews-vectors-negative300): a header line `<count> <dim>`, then
  per word its UTF-8 bytes, a space, `dim` little-endian float32, and optionally a newline;
  plain or gzipped (`.gz`).
- text (fastText `.vec`, GloVe `.txt`, ConceptNet Numberbatch `.txt.gz`): one word per
  line followed by its numbers, separated by spaces; fastText and Numberbatch start with
  a `<count> <dim>` header, GloVe does not. Plain, gzipped, or a member of a `.zip`.
- with `concept_prefix`, words of multilingual Numberbatch look like `/c/en/dog`: the
  English ones lose the prefix, the other languages are skipped.

Words are compared as bytes and only the wanted words' numbers are decoded, so a
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
    if file_format not in FORMATS:
        raise ValueError(f"unknown word-vector format {file_format!r}; valid: {FORMATS}")
    wanted_bytes = {w.encode("utf-8") for w in wanted}
    read = _read_binary if file_format == "word2vec_binary" else _read_text
    with open_stream(path, member) as stream:
        try:
            found, dim = read(stream, wanted_bytes, concept_prefix, path)
        except (EOFError, gzip.BadGzipFile, zipfile.BadZipFile) as error:
            raise TieError(
                f"{path} is truncated or corrupt ({error}): delete it and fetch it again"
            ) from error
    words = sorted(found)
    vectors = np.array([found[w] for w in words], dtype=np.float32).reshape(len(words), dim)
    return WordVectors([w.decode("utf-8") for w in words], vectors)


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


def _read_binary(stream: BinaryIO, wanted: set[bytes], concept_prefix: bool, path: Path):
    """The wanted words' vectors in a word2vec binary (first occurrence wins), and the dim."""
    header = _header(stream.readline())
    if header is None:
        raise TieError(f"{path} does not start with a word2vec `<count> <dim>` header")
    count, dim = header
    record = 4 * dim
    buffer, pos = b"", 0
    found = {}
    with tqdm(total=count, desc=Path(path).name, unit="word", unit_scale=True) as bar:
        for k in range(count):
            space = buffer.find(b" ", pos)
            while space < 0 or len(buffer) - space - 1 < record:
                chunk = stream.read(READ_BYTES)
                if not chunk:
                    raise EOFError(f"ends after {k} of {count} words")
                buffer, pos = buffer[pos:] + chunk, 0
                space = buffer.find(b" ", pos)
            word = buffer[pos:space].lstrip(b"\n")
            start = space + 1
            pos = start + record
            if concept_prefix:
                word = _strip_concept(word)
            if word in wanted and word not in found:
                found[word] = np.frombuffer(buffer, dtype="<f4", count=dim, offset=start).copy()
            if k % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                bar.update(PROGRESS_EVERY)
        bar.update(count % PROGRESS_EVERY)
    return found, dim


def _read_text(stream: BinaryIO, wanted: set[bytes], concept_prefix: bool, path: Path):
    """The wanted words' vectors in a text file (first occurrence wins), and the dim."""
    first = stream.readline()
    header = _header(first)
    total, dim = header if header else (None, len(first.split()) - 1)
    if not first:
        raise TieError(f"{path} is empty")
    lines = stream if header else _chain(first, stream)
    found = {}
    with tqdm(total=total, desc=Path(path).name, unit="word", unit_scale=True) as bar:
        for k, line in enumerate(lines):
            word, _, numbers = line.partition(b" ")
            if concept_prefix:
                word = _strip_concept(word)
            if word in wanted and word not in found:
                values = numbers.split()
                if len(values) != dim:
                    raise TieError(
                        f"{path}: the line of {word.decode(errors='replace')!r} has"
                        f" {len(values)} numbers, expected {dim}"
                    )
                found[word] = np.array(values, dtype=np.float32)
            if k % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                bar.update(PROGRESS_EVERY)
        bar.update(bar.total - bar.n if bar.total else 0)
    return found, dim


def _chain(first: bytes, rest: BinaryIO) -> Iterator[bytes]:
    yield first
    yield from rest
