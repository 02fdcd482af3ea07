"""The Ray engine on a real two-node cluster at 127.0.0.1 (see tests/ray_cluster.py).

One cluster for the module. The drivers run inside the cluster's namespaces; what they
write is compared here, byte for byte, with the local engine's output.
"""

import json

import numpy as np
import pytest
from ray_cluster import ADDRESS, RayCluster

from tie.datasets.demo import demo_layout, generate_demo
from tie.image.colorgrid import ColorGrid
from tie.image.extract import extract_features

DRIVER = __file__.replace("test_ray_engine.py", "ray_driver.py")


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
    assert result["unreadable"] == ["2_corrupt.jpg"]
    assert np.load(out)[sorted(p.name for p in images.iterdir()).index("2_corrupt.jpg")].sum() == 0
    assert max(result["errors"].values()) < 1e-12, result["errors"]


def test_a_worker_node_killed_mid_encoding_changes_nothing(cluster, images, tmp_path):
    expected = local_features(images, tmp_path / "local.npy")

    result, output = run_driver(cluster, images, tmp_path, "--kill-worker", cluster.worker_pid_file)

    assert "killed the worker node" in output
    out = tmp_path / "ray.npy"
    assert (out.read_bytes(), out.with_suffix(".ids.txt").read_bytes()) == expected
    assert max(result["errors"].values()) < 1e-12
