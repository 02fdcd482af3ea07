"""`fisher.fit_on: pretrained_sample`: a seeded sample of a pretrained table's whole
vocabulary, read in one stream from files in the published formats, served by a real HTTP
server on 127.0.0.1 and fetched by the downloader."""

import gzip
import zipfile

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tie.text import vector_files
from tie.text.encoders import VOCABULARY_SAMPLES
from tie.text.pretrained import PRETRAINED
from tie.text.vector_files import sample_word_vectors
from tie.text.vocabulary_sample import SeededSample

DIM = 4
N_WORDS = 3000
SIZE = 500
RNG = np.random.default_rng(0)
WORDS = [f"w{i}" for i in range(N_WORDS - 2)] + ["café", "New_York"]
TABLE = RNG.normal(size=(N_WORDS, DIM)).astype(np.float32)
# The words of an imagined dataset's captions: a sample is not restricted to them.
DATASET_WORDS = set(WORDS[:50])


def text_lines(order):
    return "".join(f"{WORDS[i]} {' '.join(f'{x:.6f}' for x in TABLE[i])}\n" for i in order)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The table as word2vec's gzipped binary; shuffled, as fastText's and GloVe's zipped
    text (the two served: no checksum is published for them)."""
    folder = tmp_path_factory.mktemp("served")
    kv = KeyedVectors(DIM)
    kv.add_vectors(WORDS, TABLE)
    binary = folder / "vectors.bin"
    kv.save_word2vec_format(str(binary), binary=True)
    (folder / "word2vec.bin.gz").write_bytes(gzip.compress(binary.read_bytes()))
    fasttext = PRETRAINED["fasttext"]
    with zipfile.ZipFile(folder / fasttext.remote.name, "w") as z:
        header = f"{N_WORDS} {DIM}\n"
        z.writestr(fasttext.member, header + text_lines(RNG.permutation(N_WORDS)))
    glove = PRETRAINED["glove300"]
    with zipfile.ZipFile(folder / glove.remote.name, "w") as z:
        z.writestr(glove.member, text_lines(RNG.permutation(N_WORDS)))  # no header
    return folder


def sample_word2vec(files, size, seed):
    return sample_word_vectors(files / "word2vec.bin.gz", size, seed, "word2vec_binary")


@pytest.fixture
def served(files, serve):
    """The downloader fetches from the loopback server into an empty cache."""
    return serve(files)


def smallest_keys(size, seed):
    """Brute force: the `size` words of the table with the smallest seeded keys."""
    keys = SeededSample(size=size, seed=seed).key
    return sorted(sorted(WORDS, key=lambda w: keys(w.encode()))[:size])


def test_the_sample_is_seeded_and_drawn_from_the_whole_vocabulary(files, monkeypatch):
    monkeypatch.setattr(vector_files, "READ_BYTES", 7)  # refill the buffer mid-record
    sample = sample_word2vec(files, SIZE, 0)
    assert sample.words == smallest_keys(SIZE, 0)
    rows = [WORDS.index(w) for w in sample.words]
    np.testing.assert_array_equal(sample.vectors, TABLE[rows])  # as written, float32
    # Uniform over the file: each fifth of it holds about a fifth of the sample.
    per_fifth = np.bincount(np.array(rows) * 5 // N_WORDS, minlength=5)
    assert all(60 < n < 140 for n in per_fifth), per_fifth
    assert len(set(sample.words) - DATASET_WORDS) > 0.9 * SIZE

    again = sample_word2vec(files, SIZE, 0)
    assert again.words == sample.words
    np.testing.assert_array_equal(again.vectors, sample.vectors)
    other = sample_word2vec(files, SIZE, 1)
    assert other.words == smallest_keys(SIZE, 1)
    assert len(set(other.words) & set(sample.words)) < SIZE / 2  # ~ SIZE^2 / N_WORDS = 83


def test_the_same_seed_samples_the_same_words_from_any_format_and_order(files, served):
    word2vec = sample_word2vec(files, SIZE, 0)
    for name in ("fasttext", "glove300"):  # fetched, then read in one stream
        sample = VOCABULARY_SAMPLES[name](SIZE, 0)
        assert sample.words == word2vec.words, name
        np.testing.assert_allclose(sample.vectors, word2vec.vectors, atol=1e-6)


def test_a_sample_larger_than_the_table_is_the_whole_table(files):
    everything = sample_word2vec(files, N_WORDS + 10, 3)
    assert everything.words == sorted(WORDS)


def test_a_repeated_word_keeps_its_first_vector():
    sample = SeededSample(size=2, seed=0)
    for word, value in [(b"a", 1.0), (b"b", 2.0), (b"a", 3.0)]:
        if sample.admits(word):
            sample.add(word, np.full(DIM, value, dtype=np.float32))
    vectors = sample.word_vectors()
    assert vectors.words == ["a", "b"]
    np.testing.assert_array_equal(vectors.vectors[:, 0], [1.0, 2.0])
