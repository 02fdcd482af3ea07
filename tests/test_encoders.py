import subprocess
import sys

import numpy as np
import pytest
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
    params = {
        "tokenizer": {"lowercase": True, "stop_words": "english"},
        "caption_vectors": {"idf": True, "word_scaling": "none", "pooling": "mean"},
    }
    encoder = CaptionEncoder.from_params(params, vocab, corpus)
    assert encoder.known(["red", "zebra", "circle"]) == (["red", "circle"], ["zebra"])
    idf = Idf.fit([["red", "circle"], ["red"]])  # the train captions only
    expected = (idf("red") * np.eye(3)[0] + idf("circle") * np.eye(3)[1]) / (
        idf("red") + idf("circle")
    )
    vectors = encoder.encode(["A RED circle", "zebra"])
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-6)
    assert not vectors[1].any()  # no known word: a zero row
