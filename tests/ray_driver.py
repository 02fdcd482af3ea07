"""The driver the Ray tests run inside the cluster's namespaces (see tests/ray_cluster.py).

usage: python ray_driver.py IMAGE_DIR OUT_DIR ADDRESS [--kill-worker PID_FILE]

Encodes IMAGE_DIR's images with `colorgrid` on the cluster into OUT_DIR/ray.npy (the test
compares it with the local engine's), and computes CCA covariances from chunk moments on
the cluster, printing their largest relative difference from the single local pass. With
--kill-worker, each image takes a while and the worker node (the process tree of the pid
in PID_FILE) is killed once the first shard is saved: the run must still complete.
"""

import json
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import psutil
from cca_reference import reference_cca, relative_errors

from tie.config.schema import Compute
from tie.engine.ray import ray_session
from tie.image.colorgrid import ColorGrid
from tie.image.extract import extract_features, work_dir
from tie.image.ray import shard_encoder
from tie.joint.cca import CCA
from tie.moments.ray import covariances_on_ray
from tie.moments.stream import covariances

SHARD_SIZE = 8


class SlowColorGrid(ColorGrid):
    """colorgrid, a tenth of a second per image: slow enough to kill a node mid-run."""

    def feature_batches(self, paths):
        for batch in super().feature_batches(paths):
            time.sleep(0.1)
            yield batch


def kill_worker_after_first_shard(folder: Path, pid_file: Path) -> None:
    while not list(folder.glob("shard-*.npz")):
        time.sleep(0.02)
    node = psutil.Process(int(pid_file.read_text()))
    for process in [*node.children(recursive=True), node]:
        process.send_signal(signal.SIGKILL)
    print("killed the worker node", flush=True)


def main() -> None:
    image_dir, out_dir, address = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    kill = "--kill-worker" in sys.argv
    paths = sorted(image_dir.iterdir())
    ids = [p.name for p in paths]
    encoder_class = SlowColorGrid if kill else ColorGrid
    compute = Compute(engine="ray", address=address, num_cpus=1, num_gpus=0, concurrency=2)
    out = out_dir / "ray.npy"
    with ray_session(compute):
        import ray

        nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
        if kill:
            pid_file = Path(sys.argv[sys.argv.index("--kill-worker") + 1])
            threading.Thread(
                target=kill_worker_after_first_shard, args=(work_dir(out), pid_file), daemon=True
            ).start()
        encode = shard_encoder(partial(encoder_class), compute)
        unreadable = extract_features(
            encoder_class(), paths, out, ids, SHARD_SIZE, encode_shards=encode
        )
        rng = np.random.default_rng(0)
        X = rng.normal(size=(300, 20)) + 10
        image_index = rng.permutation(np.repeat(np.arange(300), 2))[:500]  # 0-2 captions
        Y = X[image_index, :12] + rng.normal(size=(500, 12))
        single = covariances(X, Y, image_index)
        merged = covariances_on_ray(X, Y, image_index, compute, chunk_rows=37)
        # The CCA factored in place from the merged moments, against the textbook CCA:
        # images with their captions, and the stacked pairs.
        cca_errors = {}
        for fit, (x, index) in {
            "image_index": (X, image_index),
            "stacked": (X[image_index], None),
        }.items():
            on_ray = covariances_on_ray(x, Y, index, compute, chunk_rows=37)
            model = CCA(n_components=6, reg=1e-3).fit_covariances(on_ray)
            for name, error in relative_errors(model, reference_cca(x, Y, index, 6, 1e-3)).items():
                cca_errors[f"{fit}/{name}"] = error
    errors = {
        name: float(
            np.linalg.norm(getattr(merged, name) - getattr(single, name))
            / np.linalg.norm(getattr(single, name))
        )
        for name in ("x_mean", "y_mean", "xx", "yy", "xy")
    }
    result = {"nodes": nodes, "unreadable": unreadable, "errors": errors, "cca_errors": cca_errors}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
