"""WebDataset collections: tar shards read in place, bad samples named, a hashed split."""

import json
import re

import numpy as np
import pytest
from require import require_module
from webdataset_shards import (
    CORRUPT_KEY,
    EMPTY_CAPTION_KEY,
    N_SAMPLES,
    SECTION,
    make_webdataset_project,
    write_shards,
)

from tie.config.schema import Webdataset
from tie.corpus.webdataset import read_webdataset
from tie.datasets.webdataset import expand_braces, prepare_webdataset
from tie.errors import TieError
from tie.image.colorgrid import ColorGrid
from tie.raw.webdataset import image_sources


def test_brace_patterns_expand_like_img2dataset_names():
    assert expand_braces("cc/{00008..00011}.tar") == [f"cc/000{k:02d}.tar" for k in range(8, 12)]
    assert expand_braces("s3://b/{a,b}/{0..1}.tar") == [
        "s3://b/a/0.tar",
        "s3://b/a/1.tar",
        "s3://b/b/0.tar",
        "s3://b/b/1.tar",
    ]
    assert expand_braces("one.tar") == ["one.tar"]
    with pytest.raises(TieError, match="empty range"):
        expand_braces("{5..3}.tar")


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("wds")
    write_shards(root / "shards")
    section = Webdataset(**SECTION | {"shards": str(root / SECTION["shards"])})
    report = prepare_webdataset(root / "raw", section)
    return root, section, report


def test_bad_samples_are_counted_and_named_and_the_rest_indexed(collection):
    root, _, report = collection
    assert report["samples"] == N_SAMPLES and report["good"] == N_SAMPLES - 2
    assert report["bad"]["image undecodable"] == 1
    assert report["bad"]["caption missing or empty"] == 1
    named = report["bad_samples"]
    assert named["image undecodable"] == [f"{root}/shards/00000.tar:{CORRUPT_KEY}"]
    assert named["caption missing or empty"] == [f"{root}/shards/00000.tar:{EMPTY_CAPTION_KEY}"]
    assert json.loads((root / "raw" / "report.json").read_text()) == report
    assert not list((root / "raw").glob("*.jpg"))  # indexed, never extracted


def test_the_split_is_a_fixed_hashed_holdout(collection):
    root, section, _ = collection
    corpus = read_webdataset(root / "raw", section)
    counts = corpus.counts()
    assert counts["test"]["images"] == 10 and counts["val"]["images"] == 10
    assert counts["train"]["images"] == N_SAMPLES - 2 - 20
    assert CORRUPT_KEY not in corpus.images and EMPTY_CAPTION_KEY not in corpus.images
    # The same keys and seed give the same split; another seed another one.
    assert read_webdataset(root / "raw", section).splits == corpus.splits
    assert (
        read_webdataset(root / "raw", section.model_copy(update={"seed": 1})).splits
        != corpus.splits
    )


def members_and_files(collection, folder):
    """Each image's tar member, and a file of the same bytes written to `folder`."""
    root, section, _ = collection
    corpus = read_webdataset(root / "raw", section)
    members = image_sources(root / "raw", corpus.images)
    files = []
    for key, member in zip(corpus.images, members, strict=True):
        files.append(folder / f"{key}.jpg")
        files[-1].write_bytes(member.read_bytes())  # only to compare with files here
    return members, files


def assert_same_rows(encoder, members, files):
    from_tar = list(encoder.feature_batches(members))
    from_files = list(encoder.feature_batches(files))
    assert sum(len(positions) for positions, _ in from_tar) == len(files)
    for (p1, f1), (p2, f2) in zip(from_tar, from_files, strict=True):
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(f1, f2)


def test_images_are_read_from_their_shards_as_the_files_would_be(collection, tmp_path):
    """The Python read path (colorgrid): a member gives the rows its bytes as a file give."""
    assert_same_rows(ColorGrid(), *members_and_files(collection, tmp_path))


@pytest.mark.slow  # builds a VGG19 and a tiny CLIP: tens of seconds on a small machine
@pytest.mark.parametrize("kind", ["keras", "tower"])
def test_tf_data_and_tower_paths_read_shards_as_the_files_would_be(
    collection, tmp_path, request, kind
):
    """The tf.data path of a Keras backbone and the vision tower's read members in Python
    too: the same rows as from files."""
    if kind == "keras":
        require_module("tensorflow")
        from tie.image.keras_backbone import KerasBackbone

        encoder = KerasBackbone("vgg19", weights="none", input_size=32, batch_size=8)
    else:
        require_module("keras_hub")
        from tie.image.tower import TowerImageEncoder

        preset = request.getfixturevalue("tiny_clip_preset")
        encoder = TowerImageEncoder("clip", preset=str(preset), batch_size=8)
    assert_same_rows(encoder, *members_and_files(collection, tmp_path))


@pytest.mark.e2e
def test_a_webdataset_collection_runs_through_the_pipeline(tmp_path):
    # With Python listing every module imported: the local engine never imports Ray.
    project, output = make_webdataset_project(tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "import time:" in output and not re.search(r"\| +ray(\.|\s*$)", output, re.M)
    report = json.loads((project / "data/raw/webdataset/report.json").read_text())
    assert report["bad"]["image undecodable"] == 1
    assert report["bad"]["caption missing or empty"] == 1
    features = np.load(project / "features/webdataset/image/colorgrid.npy")
    assert features.shape == (N_SAMPLES - 2, ColorGrid().dim) and (features.sum(axis=1) > 0).all()
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    assert metrics["image_search"]["R_at_10"] > 0
