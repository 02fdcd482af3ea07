"""The Ray engine on a real two-node cluster at 127.0.0.1 (see tests/ray_cluster.py).

One cluster for the module. The drivers run inside the cluster's namespaces; what they
write is compared here, byte for byte, with the local engine's output.
"""

import json

import numpy as np
import pytest
import yaml
from helpers import copy_project, run
from ray_cluster import ADDRESS, RayCluster
from webdataset_shards import make_webdataset_project

from tie.datasets.demo import demo_layout, generate_demo
from tie.image.colorgrid import ColorGrid
from tie.image.extract import extract_features

DRIVER = __file__.replace("test_ray_engine.py", "ray_driver.py")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
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


def rerun_on_ray(cluster, project, outputs):
    """Switch `project` to the Ray engine, re-run its heavy stages there; read `outputs`."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["compute"] |= {"engine": "ray", "address": ADDRESS, "concurrency": 2}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _, status = run(["dvc", "status"], project)
    assert "Data and pipelines are up to date" in status  # compute.* invalidates nothing

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
