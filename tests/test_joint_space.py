"""The zero-shot model (the towers' own space) and the vocab placeholder of sentence
encoders: what `cca.method: none` and `text: clip` put where a CCA and word vectors go."""

import zipfile

import numpy as np
import pytest

from tie.joint.cca import CCA
from tie.joint.retrieval import score
from tie.joint.space import ZeroShot, load_joint_model
from tie.text.sentence import write_placeholder


def test_zero_shot_scores_the_raw_embeddings_by_cosine_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 4))
    captions = images[[0, 0, 1, 2, 3, 4, 5, 5]] + 0.01 * rng.normal(size=(8, 4))
    captions[3] = 0  # a caption with no information stays all-zero
    index = np.array([0, 0, 1, 2, 3, 4, 5, 5])

    ZeroShot(dim=4).save(tmp_path / "model")
    model = load_joint_model(tmp_path / "model")
    assert isinstance(model, ZeroShot)
    x, y = model.transform(images, captions)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, captions)
    assert not y[3].any()
    metrics = score(x, y, index)
    # Every caption but the zero one finds its image first; the zero one ranks last (ties).
    assert metrics["image_search"]["R_at_1"] == pytest.approx(100 * 7 / 8)

    with pytest.raises(ValueError, match="4 columns"):
        model.transform(images, captions[:, :3])


def test_a_cca_folder_still_loads_as_a_cca(tmp_path):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(50, 5)), rng.normal(size=(50, 4))
    CCA(n_components=3, reg=1e-3).fit(X, Y).save(tmp_path / "cca")
    assert isinstance(load_joint_model(tmp_path / "cca"), CCA)


def test_the_vocab_placeholder_is_the_same_bytes_every_time(tmp_path):
    first, second = tmp_path / "a" / "clip.npz", tmp_path / "b" / "clip.npz"
    write_placeholder(first, "clip")
    write_placeholder(second, "clip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)
    with np.load(first) as data:
        assert str(data["sentence_encoder"]) == "clip"
