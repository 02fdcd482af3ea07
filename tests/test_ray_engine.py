"""The Ray engine on a real two-node cluster at 127.0.0.1 (see tests/ray_cluster.py).

One cluster for the module. The drivers run inside the cluster's namespaces; what they
write is compared here, byte for byte, with the local engine's output.
"""

import json

import numpy as np
import pytest
import yaml
from helpers import copy_project, run
from ray_cluster import ADDRESS, RayCluster, run_local_ray
from webdataset_shards import make_webdataset_project

from tie.datasets.demo import generate_demo
from tie.image.colorgrid import ColorGrid
from tie.image.extract import extract_features
from tie.raw.layout import demo_layout

DRIVER = __file__.replace("test_ray_engine.py", "ray_driver.py")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster, started where Ray has run before: HOME holds the `~/.ray/auth_token`
    of a local `ray.init()`, which the cluster must not depend on."""
    home = tmp_path_factory.mktemp("home")
    run_local_ray(home)
    assert (home / ".ray/auth_token").is_file()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        cluster = RayCluster().start()
        yield cluster
        cluster.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """36 demo images (five shards of 8) and a corrupt one among them."""
    root = tmp_path_factory.mktemp("raw")
    generate_demo(root, n_train=36, n_val=0, n_test=0, image_size=32, seed=0)
    folder = demo_layout(root).image_dir
    (folder / "2_corrupt.jpg").write_bytes(b"\xff\xd8 not a JPEG")
    return folder


def local_features(images, out):
    paths = sorted(images.iterdir())
    extract_features(ColorGrid(), paths, out, [p.name for p in paths], shard_size=8)
    return out.read_bytes(), out.with_suffix(".ids.txt").read_bytes()


def run_driver(cluster, images, out_dir, *extra):
    _, output = cluster.run(["python", DRIVER, str(images), str(out_dir), ADDRESS, *extra], out_dir)
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    return result, output


def test_two_nodes_encode_the_same_bytes_and_merge_cca_moments_to_the_single_pass(
    cluster, images, tmp_path
):
    expected = local_features(images, tmp_path / "local.npy")

    result, _ = run_driver(cluster, images, tmp_path)

    assert result["nodes"] == ["127.0.0.1", "127.0.0.1"]
    out = tmp_path / "ray.npy"
    assert (out.read_bytes(), out.with_suffix(".ids.txt").read_bytes()) == expected
    assert list(result["unreadable"]) == ["2_corrupt.jpg"]  # {name: reason}
    assert np.load(out)[sorted(p.name for p in images.iterdir()).index("2_corrupt.jpg")].sum() == 0
    assert max(result["errors"].values()) < 1e-12, result["errors"]
    # The CCA factored in place from them equals the textbook CCA (tests/cca_reference.py).
    assert len(result["cca_errors"]) == 10
    assert max(result["cca_errors"].values()) < 1e-10, result["cca_errors"]


def test_a_worker_node_killed_mid_encoding_changes_nothing(cluster, images, tmp_path):
    expected = local_features(images, tmp_path / "local.npy")

    result, output = run_driver(cluster, images, tmp_path, "--kill-worker", cluster.worker_pid_file)

    assert "killed the worker node" in output
    out = tmp_path / "ray.npy"
    assert (out.read_bytes(), out.with_suffix(".ids.txt").read_bytes()) == expected
    assert max(result["errors"].values()) < 1e-12


OUTPUTS = [
    "features/demo/image/colorgrid.npy",
    "features/demo/image/colorgrid.ids.txt",
    "features/demo/image/colorgrid.report.json",
    "metrics/retrieval.json",
    "metrics/recall_at_k.csv",
    "metrics/cca_grid.csv",
    "metrics/cca_selection.json",
]


def test_the_demo_pipeline_on_ray_writes_the_local_engine_bytes(cluster, demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    local = {name: (project / name).read_bytes() for name in OUTPUTS}

    assert rerun_on_ray(cluster, project, OUTPUTS) == local


def use_the_ray_engine(project, *stages):
    """Switch `project` to the Ray engine (the test cluster): `stages` stay up to date."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["compute"] |= {"engine": "ray", "address": ADDRESS, "concurrency": 2}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _, status = run(["dvc", "status", *stages], project)
    assert "Data and pipelines are up to date" in status  # compute.* invalidates nothing


def rerun_on_ray(cluster, project, outputs):
    """Switch `project` to the Ray engine, re-run its heavy stages there; read `outputs`."""
    use_the_ray_engine(project)
    for stage in ("image_features", "cca"):
        _, out = cluster.run(["dvc", "repro", "-f", "-s", stage], project)
        assert f"Running stage '{stage}'" in out
    cluster.run(["dvc", "repro"], project)  # evaluate, if the model's rounding changed
    return {name: (project / name).read_bytes() for name in outputs}


def test_a_webdataset_collection_on_ray_gives_the_local_bytes(cluster, tmp_path):
    project, _ = make_webdataset_project(tmp_path)
    outputs = [name.replace("/demo/", "/webdataset/") for name in OUTPUTS]
    local = {name: (project / name).read_bytes() for name in outputs}
    assert rerun_on_ray(cluster, project, outputs) == local


ENCODERS_DRIVER = __file__.replace("test_ray_engine.py", "ray_encoders_driver.py")


def test_towers_and_fisher_vectors_on_ray_give_the_local_bytes(
    cluster, images, tiny_clip_preset, tmp_path
):
    from tie.image.tower import TowerImageEncoder
    from tie.text.fisher_vectors import FisherVectors
    from tie.text.tower import TowerTextEncoder

    # A batch of 3 does not divide a shard of 8, and the corrupt image comes first: the
    # local engine must not let a batch span two shards, as a Ray worker cannot.
    tower = {"preset": str(tiny_clip_preset), "batch_size": 3}
    paths = sorted(images.iterdir())
    rng = np.random.default_rng(0)
    words = "a red blue green circle square star on the left right top of small big".split()
    captions = [" ".join(rng.choice(words, size=rng.integers(0, 9))) for _ in range(100)]
    vectors = rng.normal(size=(40, 6)).astype(np.float32)
    token_rows = [rng.integers(0, 40, size=rng.integers(0, 7)).tolist() for _ in range(300)]
    FisherVectors(mixture="gmm+hglmm", n_components=3, seed=0).fit(vectors).save(
        tmp_path / "fisher"
    )
    np.save(tmp_path / "words.npy", vectors)
    spec = {
        "tower": tower,
        "images": [str(p) for p in paths],
        "shard_size": 8,
        "captions": captions,
        "text_chunk_rows": 12,  # chunks of 4 batches: 9 chunks over both nodes
        "token_rows": token_rows,  # Fisher vectors: 3 chunks of whole blocks of 128
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))

    cluster.run(["python", ENCODERS_DRIVER, str(tmp_path), ADDRESS], tmp_path)

    local_image = tmp_path / "local-image.npy"
    extract_features(
        TowerImageEncoder("clip", **tower), paths, local_image, [p.name for p in paths], 8
    )
    assert (tmp_path / "ray-image.npy").read_bytes() == local_image.read_bytes()
    text = TowerTextEncoder("clip", **tower).encode(captions)
    assert np.load(tmp_path / "ray-text.npy").tobytes() == text.tobytes()
    fisher = FisherVectors.load(tmp_path / "fisher").encode(token_rows, vectors)
    assert np.load(tmp_path / "ray-fisher.npy").tobytes() == fisher.tobytes()


FISHER_OUTPUTS = [
    "features/demo/text/glove-fisher.npy",
    "features/demo/text/glove-fisher.ids.txt",
    "features/demo/text/glove-fisher.coverage.json",
]


def test_fisher_vector_text_features_on_ray_are_the_local_bytes(cluster, demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["caption_vectors"]["pooling"] = "fisher"
    params["fisher"] |= {"n_components": 4, "store": "dense"}  # compact codes run locally
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", "-s", "mixture", "text_features"], project)
    local = {name: (project / name).read_bytes() for name in FISHER_OUTPUTS}

    use_the_ray_engine(project, "text_features")
    _, out = cluster.run(["dvc", "repro", "-f", "-s", "text_features"], project)

    assert "fisher vectors: 100%" in out  # the Ray engine's progress bar
    assert {name: (project / name).read_bytes() for name in FISHER_OUTPUTS} == local


def test_a_cluster_that_refuses_the_token_stops_the_stage_saying_what_to_do(
    cluster, demo_project, tmp_path
):
    project = copy_project(demo_project, tmp_path / "project")
    use_the_ray_engine(project)
    another = tmp_path / "another_token"
    another.write_text("0" * 64)

    code, out = cluster.run(
        ["dvc", "repro", "-f", "-s", "image_features"],
        project,
        env={"RAY_AUTH_TOKEN_PATH": str(another)},
        check=False,
    )

    assert code != 0 and "InvalidAuthToken" in out
    (error,) = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert f"compute.address '{ADDRESS}': Failed to connect" in error
    assert "refused this machine's token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN" in error
    assert "Traceback" not in out
