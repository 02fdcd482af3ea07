"""Pretrained word vectors from their public files: word2vec, fastText, Numberbatch, GloVe.

Each name is one published file, downloaded once (resumable, verified where a checksum
is published; `TIE_DOWNLOAD_MIRROR` fetches `<mirror>/<file name>` instead) into
`TIE_WORD_VECTORS_DIR` (default `~/.cache/tie/word-vectors`), outside the repository:
a file put there by hand is used as is. The `vocab` stage reads it once, in a stream,
and keeps only the vectors of the dataset's words (see `tie.text.vector_files`); with
`fisher.fit_on: pretrained_sample` the `mixture` stage reads it once more for a seeded
sample of its whole vocabulary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tie.download import RemoteFile, fetch
from tie.text.vector_files import read_word_vectors, sample_word_vectors
from tie.text.word_vectors import WordVectors

WORD_VECTORS_DIR_ENV = "TIE_WORD_VECTORS_DIR"


@dataclass(frozen=True)
class PretrainedVectors:
    remote: RemoteFile
    file_format: str  # "word2vec_binary" | "text" (see tie.text.vector_files)
    member: str | None = None  # the file inside a .zip
    concept_prefix: bool = False  # words look like /c/en/dog (multilingual Numberbatch)


PRETRAINED = {
    # GoogleNews-vectors-negative300, 3M words and phrases x 300, case-sensitive; the
    # gensim-data release of it (gzipped binary), with gensim-data's published md5.
    "word2vec": PretrainedVectors(
        RemoteFile(
            "word2vec-google-news-300.gz",
            "https://github.com/RaRe-Technologies/gensim-data/releases/download/"
            "word2vec-google-news-300/word2vec-google-news-300.gz",
            checksum="md5:a5e5354d40acb95f9ec66d5977d140ef",
        ),
        "word2vec_binary",
    ),
    # fastText English, 1M words x 300, trained with subword information on Wikipedia 2017,
    # UMBC and statmt.org news. No checksum is published.
    "fasttext": PretrainedVectors(
        RemoteFile(
            "wiki-news-300d-1M-subword.vec.zip",
            "https://dl.fbaipublicfiles.com/fasttext/vectors-english/"
            "wiki-news-300d-1M-subword.vec.zip",
        ),
        "text",
        member="wiki-news-300d-1M-subword.vec",
    ),
    # ConceptNet Numberbatch 17.06, English (the seed's), 300-d. No checksum published.
    "numberbatch": PretrainedVectors(
        RemoteFile(
            "numberbatch-en-17.06.txt.gz",
            "https://conceptnet.s3.amazonaws.com/downloads/2017/numberbatch/"
            "numberbatch-en-17.06.txt.gz",
        ),
        "text",
        concept_prefix=True,
    ),
    # ConceptNet Numberbatch 19.08, English, 300-d. No checksum published.
    "numberbatch1908": PretrainedVectors(
        RemoteFile(
            "numberbatch-en-19.08.txt.gz",
            "https://conceptnet.s3.amazonaws.com/downloads/2019/numberbatch/"
            "numberbatch-en-19.08.txt.gz",
        ),
        "text",
        concept_prefix=True,
    ),
    # GloVe 6B (Wikipedia 2014 + Gigaword 5), 400k lowercase words, the 300-d file of the
    # zip. No checksum published.
    "glove300": PretrainedVectors(
        RemoteFile("glove.6B.zip", "https://nlp.stanford.edu/data/glove.6B.zip"),
        "text",
        member="glove.6B.300d.txt",
    ),
}


def word_vectors_dir() -> Path:
    default = Path.home() / ".cache" / "tie" / "word-vectors"
    return Path(os.environ.get(WORD_VECTORS_DIR_ENV) or default).expanduser()


def read_pretrained(source: PretrainedVectors, vocabulary: set[str]) -> WordVectors:
    """The vectors of `vocabulary` in `source`'s file, fetched first if not there."""
    path = fetch(source.remote, word_vectors_dir())
    return read_word_vectors(
        path, vocabulary, source.file_format, source.member, source.concept_prefix
    )


def pretrained_vectors(
    name: str, train_sentences: list[list[str]], vocabulary: set[str]
) -> WordVectors:
    """The text encoder `name` (a key of PRETRAINED); `train_sentences` are not used."""
    return read_pretrained(PRETRAINED[name], vocabulary)


def sample_pretrained(source: PretrainedVectors, size: int, seed: int) -> WordVectors:
    """A seeded sample of `size` words of `source`'s whole vocabulary, fetched first if
    not there (see `tie.text.vocabulary_sample`)."""
    path = fetch(source.remote, word_vectors_dir())
    return sample_word_vectors(
        path, size, seed, source.file_format, source.member, source.concept_prefix
    )
