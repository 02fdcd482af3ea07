"""Compact Fisher-vector files: the rows they expand into are the dense path's bytes."""

import numpy as np
import pytest

from tie.features.fisher_rows import FisherRows, save_codes
from tie.features.store import load_features, save_features
from tie.text.fisher_vectors import FisherVectors, FisherWordCodes, caption_words


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("mixture", ["gmm", "hglmm", "gmm+hglmm"])
def test_compact_rows_are_the_dense_bytes(tmp_path, mixture, normalize):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 6)).astype(np.float32)
    # 300 captions (more than two blocks of 128), some with no known word.
    token_rows = [rng.integers(0, 60, size=rng.integers(0, 9)).tolist() for _ in range(300)]
    fisher = FisherVectors(mixture=mixture, n_components=3, seed=0, normalize=normalize)
    fisher.fit(vectors)
    dense = fisher.encode(token_rows, vectors)

    captions, words = caption_words(token_rows, vectors)
    save_codes(
        tmp_path / "text.npy",
        captions,
        FisherWordCodes(fisher, words).codes,
        fisher.part,
        normalize,
    )
    rows = FisherRows(tmp_path / "text.npy")

    assert rows.shape == dense.shape and rows.dtype == np.float32
    assert np.asarray(rows).tobytes() == dense.tobytes()
    picked = rng.permutation(300)[:150]  # any rows, in any order, blocks cut elsewhere
    assert rows[picked].tobytes() == dense[picked].tobytes()
    assert rows[5:290:7].tobytes() == dense[5:290:7].tobytes()
    assert rows[17].tobytes() == dense[17].tobytes()


def test_load_features_tells_compact_from_dense(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(20, 4))
    token_rows = [[0, 1], [2], []]
    fisher = FisherVectors(mixture="gmm", n_components=2, seed=0).fit(vectors)
    ids = ["a#0", "a#1", "b#0"]
    captions, words = caption_words(token_rows, vectors)
    codes = FisherWordCodes(fisher, words).codes
    save_codes(tmp_path / "compact.npy", captions, codes, fisher.part, True)
    (tmp_path / "compact.ids.txt").write_text("".join(f"{i}\n" for i in ids))
    save_features(tmp_path / "dense.npy", fisher.encode(token_rows, vectors), ids)

    compact, dense = (
        load_features(tmp_path / "compact.npy", ids),
        load_features(tmp_path / "dense.npy", ids),
    )

    assert isinstance(compact, FisherRows) and not isinstance(dense, FisherRows)
    assert compact[:].tobytes() == dense[:].tobytes()
