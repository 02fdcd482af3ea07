import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import stage_params
from PIL import Image

from tie.image.colorgrid import ColorGrid
from tie.image.encoders import BUILDERS as IMAGE_BUILDERS
from tie.text.encoders import BUILDERS as TEXT_BUILDERS
from tie.text.tokenize import Tokenizer
from tie.text.word_vectors import WordVectors, coverage, mean_vectors


def test_tokenizer_splits_on_non_letters_lowercases_and_drops_stop_words():
    tokenize = Tokenizer()
    assert tokenize("A Red-circle, on the LEFT of 2 boxes.") == ["red", "circle", "left", "boxes"]
    assert Tokenizer(lowercase=False, stop_words="none")("The Dog's 3 toys") == [
        "The",
        "Dog",
        "s",
        "toys",
    ]


def test_tokenizer_rejects_an_unknown_stop_word_list():
    with pytest.raises(Exception, match="tokenizer.stop_words"):
        Tokenizer(stop_words="french")


def test_mean_vectors_average_known_words_and_keep_empty_captions_as_zeros():
    wv = WordVectors(["red", "circle"], np.array([[1, 0], [0, 2]], dtype=np.float32))
    tokens = [["red", "circle"], ["red", "unknown"], ["unknown"], []]
    out = mean_vectors(tokens, wv)
    np.testing.assert_allclose(out, [[0.5, 1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    stats = coverage(tokens, wv)
    assert stats["captions"] == 4
    assert stats["empty_captions"] == 2
    assert stats["token_coverage"] == pytest.approx(3 / 5)
    assert stats["caption_coverage"] == pytest.approx(2 / 4)  # the empty caption counts as covered


def test_glove_returns_the_packaged_vectors_of_the_vocabulary_only():
    wv = TEXT_BUILDERS["glove"]([], {"red", "circle", "notawordxyz"})
    assert wv.words == ["circle", "red"]
    assert wv.vectors.shape == (2, 50) and wv.vectors.dtype == np.float32
    # "the" is the first row of GloVe 6B; its first component is 0.418.
    the = TEXT_BUILDERS["glove"]([], {"the"})
    assert the.vectors[0, 0] == pytest.approx(0.418)


@pytest.mark.slow
def test_word2vec_local_is_deterministic_across_processes():
    code = (
        "from tie.text.encoders import BUILDERS\n"
        "s = [['red', 'circle', 'left'], ['blue', 'square', 'right'], ['red', 'square']] * 20\n"
        "wv = BUILDERS['word2vec_local'](s, {'red', 'square', 'never'})\n"
        "import hashlib; print(wv.words, hashlib.sha256(wv.vectors.tobytes()).hexdigest())\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": ""},
        ).stdout
        for seed in (1, 2)
    ]
    assert outputs[0] == outputs[1]
    assert "['red', 'square']" in outputs[0]


def test_colorgrid_places_colour_in_the_right_cell(tmp_path):
    rgb = np.full((96, 96, 3), 255, dtype=np.uint8)
    rgb[:32, :32] = (255, 0, 0)  # red in the top-left cell only
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    encoder = IMAGE_BUILDERS["colorgrid"]()
    features = encoder.encode([path])
    assert features.shape == (1, encoder.dim) == (1, 640)
    hist = features[0].reshape(10, 64) ** 2  # undo the square root
    np.testing.assert_allclose(hist.sum(axis=1), 1, rtol=1e-5)
    red, white = 3 * 16, 63  # colour bins of (255, 0, 0) and (255, 255, 255)
    assert hist[1, red] == pytest.approx(1)  # cell (0, 0)
    assert hist[2, red] == 0 and hist[2, white] == pytest.approx(1)  # cell (0, 1)
    assert hist[0, red] == pytest.approx(1 / 9)  # whole image


def test_colorgrid_does_not_import_tensorflow():
    code = "import tie.image.encoders, tie.text.encoders, sys; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_colorgrid_dim_follows_its_settings():
    assert ColorGrid(grid=2, bins_per_channel=2).dim == 5 * 8


def test_caption_encoder_follows_the_params_and_names_unknown_words(tmp_path):
    from tie.corpus.corpus import Corpus
    from tie.text.captions import CaptionEncoder
    from tie.text.word_vectors import Idf

    vocab = tmp_path / "vocab.npz"
    WordVectors(["red", "circle", "blue"], np.eye(3, dtype=np.float32)).save(vocab)
    corpus = Corpus(
        dataset="tiny",
        images=["a.png", "b.png"],
        splits=["train", "test"],
        captions=[["a red circle", "red"], ["a blue zebra", "blue"]],
    )
    params = stage_params(
        tokenizer={"lowercase": True, "stop_words": "english"},
        caption_vectors={
            "idf": True,
            "sif": False,
            "word_scaling": "none",
            "common_components": 0,
            "pooling": "mean",
        },
    )
    encoder = CaptionEncoder.from_params(params, vocab, corpus)
    assert encoder.known(["red", "zebra", "circle"]) == (["red", "circle"], ["zebra"])
    idf = Idf.fit([["red", "circle"], ["red"]])  # the train captions only
    expected = (idf("red") * np.eye(3)[0] + idf("circle") * np.eye(3)[1]) / (
        idf("red") + idf("circle")
    )
    vectors = encoder.encode(["A RED circle", "zebra"])
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-6)
    assert not vectors[1].any()  # no known word: a zero row


def test_a_plain_mean_learns_nothing_from_the_train_captions(tmp_path):
    """Without IDF, SIF or common components the encoder needs no corpus: `tie search` and
    the MLflow model build it without tokenizing every train caption."""
    from tie.text.captions import CaptionEncoder

    vocab = tmp_path / "vocab.npz"
    WordVectors(["red", "circle"], np.eye(2, dtype=np.float32)).save(vocab)
    params = stage_params(
        tokenizer={"lowercase": True, "stop_words": "none"},
        caption_vectors={
            "idf": False,
            "sif": False,
            "word_scaling": "none",
            "common_components": 0,
            "pooling": "mean",
        },
    )
    encoder = CaptionEncoder.from_params(params, vocab, corpus=None)
    np.testing.assert_allclose(encoder.encode(["red circle"])[0], [0.5, 0.5])


def test_sif_weights_and_the_common_component_follow_arora_et_al(tmp_path):
    """SIF: a / (a + p(w)) with p the train tokens' frequencies; then the first singular
    vector of the train caption vectors (uncentred) is projected out of every caption."""
    from tie.corpus.corpus import Corpus
    from tie.text.captions import CaptionEncoder

    rng = np.random.default_rng(0)
    words = ["red", "circle", "blue", "square", "big"]
    table = rng.normal(size=(5, 4)).astype(np.float32)
    vocab = tmp_path / "vocab.npz"
    WordVectors(words, table).save(vocab)
    train = ["red circle", "red square big", "blue circle", "big red", "red"]
    corpus = Corpus(
        dataset="tiny",
        images=[f"{i}.png" for i in range(len(train) + 1)],
        splits=["train"] * len(train) + ["test"],
        captions=[[c] for c in train] + [["blue square"]],
    )
    params = stage_params(
        tokenizer={"lowercase": True, "stop_words": "none"},
        caption_vectors={
            "idf": False,
            "sif": True,
            "word_scaling": "none",
            "common_components": 1,
            "pooling": "mean",
        },
    )
    encoder = CaptionEncoder.from_params(params, vocab, corpus)

    tokens = [c.split() for c in train]
    counts = {w: sum(t.count(w) for t in tokens) for w in words}
    total = sum(counts.values())
    weight = {w: 1e-3 / (1e-3 + counts[w] / total) for w in words}

    def weighted_mean(caption):
        ws = caption.split()
        return sum(weight[w] * table[words.index(w)] for w in ws) / sum(weight[w] for w in ws)

    train_vectors = np.array([weighted_mean(c) for c in train], dtype=np.float64)
    u = np.linalg.svd(train_vectors, full_matrices=False)[2][0]  # first right singular vector
    expected = weighted_mean("blue square")
    expected = expected - (expected @ u) * u
    got = encoder.encode(["blue square", "zebra"])
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-6)
    assert abs(got[0] @ u) < 1e-5
    assert not got[1].any()  # no known word: still a zero row


def test_unit_word_scaling_averages_unit_length_word_vectors():
    from tie.text.word_vectors import mean_vectors

    wv = WordVectors(["a", "b"], np.array([[3, 4], [0, 2]], dtype=np.float32))
    np.testing.assert_allclose(mean_vectors([["a", "b"]], wv, word_scaling="unit")[0], [0.3, 0.9])


def test_idf_and_sif_together_are_refused_in_one_line(tmp_path):
    from tie.config.params import check_params, read_params
    from tie.errors import TieError

    params = read_params(Path(__file__).resolve().parents[1] / "params.yaml")
    params["caption_vectors"] |= {"idf": True, "sif": True}
    with pytest.raises(TieError, match=r"caption_vectors.sif = True: with caption_vectors.idf"):
        check_params(params)
