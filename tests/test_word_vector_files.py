"""Pretrained word-vector files in each published format, small and generated, served by a
real HTTP server on 127.0.0.1, fetched by the downloader and read in one stream."""

import dataclasses
import gzip
import hashlib
import zipfile

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tie.download import MIRROR_ENV, RemoteFile
from tie.errors import TieError
from tie.text import vector_files
from tie.text.encoders import BUILDERS as TEXT_BUILDERS
from tie.text.pretrained import PRETRAINED, read_pretrained
from tie.text.tokenize import Tokenizer, word_forms
from tie.text.vector_files import read_word_vectors
from tie.text.word_vectors import Idf, WordVectors, coverage, mean_vectors

DIM = 6
RNG = np.random.default_rng(0)
# A case-sensitive vocabulary with phrases, as GoogleNews has: "Paris" and "dog", no "Dog".
WORDS = ["the", "dog", "Paris", "New_York", "runs", "café", "red", "ball"]
TABLE = RNG.normal(size=(len(WORDS), DIM)).astype(np.float32)
CAPTIONS = ["A Dog runs in Paris.", "The red ball, 2 dogs", "Un café à New York"]


def text_lines(words, table):
    rows = zip(words, table, strict=True)
    return "".join(f"{w} {' '.join(f'{x:.6f}' for x in v)}\n" for w, v in rows)


def write_word2vec(folder, binary):
    kv = KeyedVectors(DIM)
    kv.add_vectors(WORDS, TABLE)
    path = folder / ("vectors.bin" if binary else "vectors.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """name -> (file, format, zip member, concept prefix), one per published layout."""
    folder = tmp_path_factory.mktemp("served")
    binary = write_word2vec(folder, binary=True)
    gz = folder / "word2vec-google-news-300.gz"
    gz.write_bytes(gzip.compress(binary.read_bytes()))
    header = f"{len(WORDS)} {DIM}\n"
    with zipfile.ZipFile(folder / "wiki-news-300d-1M-subword.vec.zip", "w") as z:
        z.writestr("wiki-news-300d-1M-subword.vec", header + text_lines(WORDS, TABLE))
    concepts = [f"/c/en/{w}" for w in WORDS] + ["/c/fr/dog", "/c/de/red"]
    other = RNG.normal(size=(2, DIM)).astype(np.float32)
    numberbatch = text_lines(concepts[:2], TABLE[:2]) + text_lines(concepts[-2:], other)
    numberbatch += text_lines(concepts[2:-2], TABLE[2:])  # other languages in between
    (folder / "numberbatch-en-17.06.txt.gz").write_bytes(
        gzip.compress((f"{len(concepts)} {DIM}\n" + numberbatch).encode())
    )
    with zipfile.ZipFile(folder / "glove.6B.zip", "w") as z:
        z.writestr("glove.6B.100d.txt", text_lines(WORDS, TABLE[:, :3]))
        z.writestr("glove.6B.300d.txt", text_lines(WORDS, TABLE))  # GloVe: no header
    return folder


@pytest.fixture
def served(files, serve):
    """The files on 127.0.0.1, no mirror: each source names the server (`local_source`)."""
    return serve(files, mirror=False)


def local_source(name, server, files):
    """PRETRAINED[name] pointed at the loopback server, with the served file's real md5."""
    source = PRETRAINED[name]
    file = files / source.remote.name
    remote = RemoteFile(
        source.remote.name,
        f"{server.url}/{source.remote.name}",
        checksum="md5:" + hashlib.md5(file.read_bytes()).hexdigest(),
        size=file.stat().st_size,
    )
    return dataclasses.replace(source, remote=remote)


@pytest.mark.parametrize("name", ["word2vec", "fasttext", "numberbatch", "glove300"])
def test_each_published_format_is_fetched_and_restricted_to_the_wanted_words(
    served, files, tmp_path, name
):
    wanted = {"dog", "Paris", "café", "unknown", "york"}
    wv = read_pretrained(local_source(name, served, files), wanted)
    assert wv.words == ["Paris", "café", "dog"]
    expected = TABLE[[WORDS.index(w) for w in wv.words]]
    np.testing.assert_allclose(wv.vectors, expected, atol=1e-6)
    assert wv.vectors.dtype == np.float32
    assert (tmp_path / "cache" / PRETRAINED[name].remote.name).exists()
    # Read again: the cached file is used, nothing is downloaded twice.
    read_pretrained(local_source(name, served, files), wanted)
    assert served.requested(PRETRAINED[name].remote.name) == [None]


def test_the_mirror_setting_fetches_a_named_encoder_from_another_server(served, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, served.url)
    wv = TEXT_BUILDERS["numberbatch"]([], {"dog", "red"})
    assert wv.words == ["dog", "red"]  # /c/fr/dog and /c/de/red are other languages
    np.testing.assert_allclose(wv.vectors, TABLE[[1, 6]], atol=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_word2vec_binary_and_text_read_as_gensim_reads_them(tmp_path, monkeypatch, binary):
    monkeypatch.setattr(vector_files, "READ_BYTES", 7)  # refill the buffer mid-record
    path = write_word2vec(tmp_path, binary)
    file_format = "word2vec_binary" if binary else "text"
    wv = read_word_vectors(path, set(WORDS), file_format)
    reference = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert sorted(wv.words) == sorted(reference.index_to_key)
    for word in WORDS:
        np.testing.assert_allclose(wv.vectors[wv.index[word]], reference[word], atol=1e-6)


def test_a_truncated_file_is_reported_with_what_to_do(tmp_path):
    path = write_word2vec(tmp_path, binary=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(TieError, match="truncated or corrupt .* delete it and fetch it again"):
        read_word_vectors(path, {"dog"}, "word2vec_binary")


def test_case_fallback_and_coverage_on_a_case_sensitive_vocabulary(tmp_path):
    wanted = word_forms(CAPTIONS)
    assert {"Dog", "dog", "Paris", "paris", "dogs", "2", "York", "york"} <= wanted
    wv = read_word_vectors(write_word2vec(tmp_path, True), wanted, "word2vec_binary")
    assert wv.words == ["Paris", "ball", "café", "dog", "red", "runs", "the"]

    cased = Tokenizer(lowercase=False, stop_words="none").tokenize_all(CAPTIONS)
    assert cased[0] == ["A", "Dog", "runs", "in", "Paris"]
    # "Dog" falls back to "dog"; "Paris" is found as written; "A", "in" are unknown.
    features = mean_vectors(cased[:1], wv)
    np.testing.assert_allclose(features[0], TABLE[[1, 4, 2]].mean(axis=0), rtol=1e-5)
    stats = coverage(cased, wv)
    assert stats["token_coverage"] == pytest.approx(7 / 14)  # 3 of 5, 3 of 4, 1 (café) of 5
    assert stats["caption_coverage"] == 0.0 and stats["empty_captions"] == 0

    lowered = Tokenizer(lowercase=True, stop_words="english").tokenize_all(CAPTIONS)
    assert lowered[0] == ["dog", "runs", "paris"]  # "paris" is not in a cased vocabulary
    assert coverage(lowered[:1], wv)["token_coverage"] == pytest.approx(2 / 3)
    digits = Tokenizer(stop_words="english", keep_digits=True)("The red ball, 2 dogs")
    assert digits == ["red", "ball", "2", "dogs"]


def test_idf_weighting_and_the_inverse_squared_norm_scaling():
    wv = WordVectors(["a", "b"], np.array([[2, 0], [0, 1]], dtype=np.float32))
    train = [["a"], ["a"], ["a", "b"]]
    idf = Idf.fit(train)
    assert idf("a") == pytest.approx(1.0) and idf("b") == pytest.approx(np.log(2) + 1)
    assert idf("never") == pytest.approx(np.log(4) + 1)
    weighted = mean_vectors([["a", "b"]], wv, idf)[0]
    wa, wb = 1.0, np.log(2) + 1
    np.testing.assert_allclose(weighted, [2 * wa / (wa + wb), wb / (wa + wb)], rtol=1e-6)
    scaled = mean_vectors([["a", "b"]], wv, word_scaling="inverse_squared_norm")[0]
    np.testing.assert_allclose(scaled, [0.25, 0.5])  # (2,0)/4 = (0.5,0); (0,1)/1; mean


def test_word_vectors_round_trip_through_the_vocab_file(tmp_path):
    wv = WordVectors(["café", "dog"], TABLE[:2])
    wv.save(tmp_path / "v.npz")
    back = WordVectors.load(tmp_path / "v.npz")
    assert back.words == ["café", "dog"]
    np.testing.assert_array_equal(back.vectors, TABLE[:2])
