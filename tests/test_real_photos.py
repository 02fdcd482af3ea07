"""The pipeline on real photos: 1,500 Flickr8k photos (1,000 train, 200 val, 300 test, the
official split) through `dataset: custom`, MobileNet v1 with real ImageNet weights, the
repository's defaults otherwise (tests/real_photos.py says where the material comes from).

What synthetic scenes cannot check: that the images reach the network as it was trained
(decoding, resizing, preprocessing: ImageNet's own classifier on our features must name a
dog where the captions do), that retrieval on real photos is far above chance with the
defaults, that Fisher vectors beat the mean pair by pair, and that a second run writes the
same bytes.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from helpers import new_project, run
from real_photos import require_real_material

pytestmark = [pytest.mark.real, pytest.mark.e2e]

IMAGENET_DOGS = range(151, 269)  # the 118 dog breeds of ImageNet-1k's classes
DOG_WORDS = re.compile(r"\b(dogs?|puppy|puppies)\b", re.IGNORECASE)
N_TEST = 300


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A clone-like project on the real photos with the repository's defaults, after
    `dvc repro`."""
    photos = require_real_material()
    params = {
        "dataset": "custom",
        "custom": {"images": str(photos / "images"), "captions": str(photos / "captions.csv")},
        "image": "mobilenet",
        "backbone": {"weights": "imagenet"},
    }
    root = new_project(tmp_path_factory.mktemp("real"), params)
    run(["dvc", "repro"], root)
    return root


def metrics_of(root):
    return json.loads((root / "metrics/retrieval.json").read_text())


def test_imagenet_classifier_on_the_features_names_the_dogs_the_captions_name(project):
    """MobileNet's own ImageNet head (global pool -> 1x1 conv -> softmax), applied to the
    features the pipeline stored: photos whose captions say "dog" have a dog breed among
    the top-5 classes far more often than the rest. A wrong decode, channel order, resize or
    preprocessing (e.g. 0..255 where the network wants -1..1) breaks this."""
    import keras

    photos = require_real_material()
    with open(photos / "captions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    dog_votes: dict[str, int] = {}
    for row in rows:
        dog_votes[row["image"]] = dog_votes.get(row["image"], 0) + bool(
            DOG_WORDS.search(row["caption"])
        )
    features = np.load(project / "features/custom/image/mobilenet.npy")
    ids = (project / "features/custom/image/mobilenet.ids.txt").read_text().splitlines()
    assert features.shape == (1500, 1024) and sorted(ids) == sorted(dog_votes)

    classifier = keras.applications.MobileNet(include_top=True, weights="imagenet")
    kernel, bias = classifier.get_layer("conv_preds").get_weights()  # (1, 1, 1024, 1000)
    logits = features.astype(np.float64) @ kernel[0, 0].astype(np.float64) + bias
    top5 = np.argsort(-logits, axis=1)[:, :5]
    dog_in_top5 = np.isin(top5, IMAGENET_DOGS).any(axis=1)
    said_dog = np.array([dog_votes[name] >= 3 for name in ids])  # most captions say so
    said_none = np.array([dog_votes[name] == 0 for name in ids])
    dog_rate, other_rate = dog_in_top5[said_dog].mean(), dog_in_top5[said_none].mean()
    assert said_dog.sum() > 200 and said_none.sum() > 600
    assert dog_rate > 0.75, (dog_rate, other_rate)
    assert other_rate < 0.15, (dog_rate, other_rate)


def test_the_defaults_retrieve_real_photos_far_above_chance(project):
    """With the repository's defaults (chosen on real val data) the 300 test photos are
    retrieved far above chance (R@10 3.3%) in both directions."""
    metrics = metrics_of(project)
    search, annotation = metrics["image_search"], metrics["image_annotation"]
    assert search["n_queries"] == 5 * N_TEST and annotation["n_queries"] == N_TEST
    # Measured: 18.5 / 27.3 (R@1), 61.3 / 64.7 (R@10), median 6 / 5; the defaults before
    # (mean pooling, one CCA point chosen on the demo) are far below these bounds.
    assert search["R_at_1"] > 14 and annotation["R_at_1"] > 20, metrics
    assert search["R_at_10"] > 50 and annotation["R_at_10"] > 55, metrics
    assert search["median_rank"] <= 8 and annotation["median_rank"] <= 7, metrics
    selection = json.loads((project / "metrics/cca_selection.json").read_text())
    assert selection["grid_points"] == 18  # the default grid, chosen on val


def test_fisher_vectors_beat_the_mean_pair_by_pair(project, tmp_path):
    """The same photos, the captions pooled by the plain mean of their word vectors: the
    default (Fisher vectors) is better by a paired bootstrap on the same test images."""
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "defaults"], project)
    run(["dvc", "exp", "run", "-n", "mean", "-S", "caption_vectors.pooling=mean"], project)
    _, out = run(["tie", "compare", "HEAD", "mean"], project)
    verdicts = {
        match.group(1): match.group(2)
        for match in re.finditer(
            r"^(search R@1|annotation R@1|rsum) .*  (a better|b better|not significant)$",
            out,
            re.MULTILINE,
        )
    }
    assert verdicts == dict.fromkeys(("search R@1", "annotation R@1", "rsum"), "a better"), out
    run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics/"], project)
    run(["dvc", "checkout", "--force"], project)


def test_a_second_run_writes_the_same_bytes(project):
    """The image features again, from scratch: the same bytes (dvc.lock unchanged), so the
    stages after it have nothing to do."""
    lock = (project / "dvc.lock").read_text()
    run(["dvc", "repro", "--force", "--single-item", "image_features"], project)
    assert (project / "dvc.lock").read_text() == lock
    _, out = run(["dvc", "status"], project)
    assert "up to date" in out, out
