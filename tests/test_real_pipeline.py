"""End to end on a real dataset: `dvc exp run -S dataset=flickr8k` against a local server.

A miniature Flickr8k (real archive layouts and quirks, see real_fixtures.py) is served on
127.0.0.1 and TIE_DOWNLOAD_MIRROR points the downloads at it; TIE_SOURCES_FILE gives the
sources the fixture archives' checksums and image counts. The repository is copied into a
temporary git repo, where the pipeline runs.
"""

import json
from pathlib import Path

import pytest
from helpers import TEST_POOLING, new_project, run
from local_http_server import LocalServer
from real_fixtures import build_coco, build_flickr8k, build_karpathy, md5

from tie.datasets.sources import (
    COCO_TRAIN2014,
    COCO_VAL2014,
    FLICKR8K_IMAGES,
    FLICKR8K_TEXT,
    SOURCES_FILE_ENV,
)
from tie.download import MIRROR_ENV

COUNTS = {"train": 40, "val": 5, "test": 5}
COCO_COUNTS = {"train": 30, "restval": 10, "val": 4, "test": 10}  # a 10-image "5K" test split
ARCHIVES = ("Flickr8k_Dataset.zip", "Flickr8k_text.zip")  # split official: not Karpathy's

pytestmark = pytest.mark.e2e


def fixture_sources_file(served: Path, path: Path) -> Path:
    """The flickr8k and coco sources with the fixture archives' checksums and image counts."""
    overrides = {
        "flickr8k": {
            "checksums": {f.name: md5(served / f.name) for f in (FLICKR8K_IMAGES, FLICKR8K_TEXT)},
            "n_images": sum(COUNTS.values()) + 1,  # + 1 in no split
        },
        "coco": {
            "checksums": {f.name: md5(served / f.name) for f in (COCO_TRAIN2014, COCO_VAL2014)},
            "n_images": sum(COCO_COUNTS.values()),
        },
    }
    path.write_text(json.dumps(overrides))
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    fixture = build_flickr8k(folder, COUNTS)
    build_karpathy(folder, {"flickr8k": fixture.images, "coco": build_coco(folder, COCO_COUNTS)})
    with LocalServer(folder) as server:
        yield server


@pytest.fixture(scope="module")
def project(served, tmp_path_factory):
    params = {"dataset": "demo", "split": "official", "text": "glove", "image": "colorgrid"}
    small = {"cca": {"n_components": 10}, "caption_vectors": TEST_POOLING}
    root = new_project(tmp_path_factory.mktemp("project"), params | small)
    sources_file = fixture_sources_file(
        served.folder, tmp_path_factory.mktemp("sources") / "sources.json"
    )
    # Downloads go to the local server, and are checked against the fixture archives.
    env = {MIRROR_ENV: served.url, SOURCES_FILE_ENV: str(sources_file)}
    return root, env


def test_exp_run_flickr8k_fetches_splits_encodes_and_evaluates(project, served):
    root, env = project
    _, output = run(["dvc", "exp", "run", "-S", "dataset=flickr8k"], root, env=env)

    assert sorted(p.name for p in (root / "data/downloads").iterdir()) == sorted(ARCHIVES)
    assert all(served.requested(name) == [None] for name in ARCHIVES)
    splits = json.loads((root / "data/splits/flickr8k.json").read_text())
    by_split = {split: [r for r in splits["images"] if r["split"] == split] for split in COUNTS}
    assert {split: len(records) for split, records in by_split.items()} == COUNTS
    assert all(len(r["captions"]) == 5 for r in splits["images"])
    assert splits["report"]["dropped_lines_missing_image"]["count"] == 5
    assert "2258277193_586949ec62.jpg.1" in output  # the reader's report, printed by the stage

    metrics = json.loads((root / "metrics/retrieval.json").read_text())
    assert set(metrics) == {"image_search", "image_annotation", "rsum", "rsum_low", "rsum_high"}
    assert metrics["image_search"]["R_at_10"] == 100.0  # 5 test images: every rank <= 5
    assert metrics["image_search"]["mean_rank"] < 3.0  # chance is 3
    assert (root / "features/flickr8k/image/colorgrid.npy").is_file()


def test_karpathy_split_reuses_the_image_features_and_scores_the_same(project, served):
    root, env = project
    official = json.loads((root / "metrics/retrieval.json").read_text())
    features = root / "features/flickr8k/image/colorgrid.npy"
    before = features.stat().st_mtime_ns
    requests = len(served.requests)
    _, output = run(
        ["dvc", "exp", "run", "-S", "dataset=flickr8k", "-S", "split=karpathy"], root, env=env
    )
    assert served.requests[requests:] == [("/caption_datasets.zip", None)]  # only what is new
    assert "Stage 'image_features' didn't change, skipping" in output  # same images, same list
    assert features.stat().st_mtime_ns == before
    assert json.loads((root / "metrics/retrieval.json").read_text()) == official


def test_coco_needs_the_karpathy_split_and_adds_the_1k_protocol(project, served):
    root, env = project
    code, output = run(
        ["dvc", "exp", "run", "-S", "dataset=coco", "-S", "split=official"],
        root,
        check=False,
        env=env,
    )
    assert code != 0
    assert "split = 'official': dataset coco has the split(s): karpathy" in output
    assert served.requested(COCO_TRAIN2014.name) == []

    run(["dvc", "exp", "run", "-S", "dataset=coco", "-S", "split=karpathy"], root, env=env)
    metrics = json.loads((root / "metrics/retrieval.json").read_text())
    assert set(metrics) == {
        "image_search", "image_annotation", "rsum", "rsum_low", "rsum_high", "coco_1k"
    }  # fmt: skip
    assert set(metrics["coco_1k"]) == {"image_search", "image_annotation"}
    # Folds of 2 images: a caption's rank is 1 or 2, so the fold mean rank is at most 2.
    assert metrics["coco_1k"]["image_search"]["mean_rank"] <= 2.0
    assert metrics["coco_1k"]["image_search"]["mean_rank"] <= metrics["image_search"]["mean_rank"]
    _, table = run(["tie", "show"], root)
    assert "coco_1k:" in table and table.count("Median rank") == 2

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("coco")
    (latest,) = client.search_runs([experiment.experiment_id])
    logged = latest.data.metrics
    assert logged["coco_1k/image_search/R_at_1"] == metrics["coco_1k"]["image_search"]["R_at_1"]
    assert logged["image_search/R_at_1"] == metrics["image_search"]["R_at_1"]
