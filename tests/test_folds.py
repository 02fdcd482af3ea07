"""The fold protocol (COCO's 1K) on a miniature test split."""

import numpy as np
import pytest

from tie.evaluation.folds import score_folds
from tie.joint.retrieval import score


def test_fold_protocol_averages_equal_consecutive_folds():
    """A 10-image "5K" test split in 5 folds of 2 images: the 1K protocol in miniature."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(10, 4))
    caption_image_index = np.repeat(np.arange(10), 5)
    captions = images[caption_image_index] + rng.normal(scale=1.5, size=(50, 4))
    folds = score_folds(images, captions, caption_image_index, n_folds=5)

    fold_index = np.repeat([0, 1], 5)  # each fold: 2 images, their 10 captions
    per_fold = [
        score(images[2 * f : 2 * f + 2], captions[10 * f : 10 * f + 10], fold_index)
        for f in range(5)
    ]
    for direction in ("image_search", "image_annotation"):
        for name, value in folds[direction].items():
            assert value == pytest.approx(np.mean([m[direction][name] for m in per_fold]))
    whole = score(images, captions, caption_image_index)
    assert folds["image_search"]["mean_rank"] < whole["image_search"]["mean_rank"]
    with pytest.raises(ValueError, match="cannot cut 10 images into 3 equal folds"):
        score_folds(images, captions, caption_image_index, n_folds=3)
