"""The driver the Ray encoder tests run inside the cluster's namespaces (tests/ray_cluster.py).

usage: python ray_encoders_driver.py WORK_DIR ADDRESS

WORK_DIR/spec.json names the inputs (written by tests/test_ray_engine.py). On the cluster,
this encodes: the images with CLIP's vision tower (into ray-image.npy, through the shards
of `extract_features`), the captions with its text tower (ray-text.npy) and the token
rows with the fitted Fisher-vector encoder (ray-fisher.npy), in small chunks so that both
nodes get some. The test compares each file with the local engine's, byte for byte.
"""

import json
import sys
from functools import partial
from pathlib import Path

import numpy as np

from tie.config.schema import Compute
from tie.engine.ray import ray_session
from tie.features.store import create_features
from tie.image.extract import extract_features
from tie.image.ray import shard_encoder
from tie.image.tower import TowerImageEncoder
from tie.text.fisher_vectors import FisherVectors
from tie.text.ray import encode_captions, fisher_vectors
from tie.text.tower import TowerTextEncoder


def main() -> None:
    work, address = Path(sys.argv[1]), sys.argv[2]
    spec = json.loads((work / "spec.json").read_text())
    compute = Compute(engine="ray", address=address, num_cpus=1, num_gpus=0, concurrency=2)
    image_tower = partial(TowerImageEncoder, "clip", **spec["tower"])
    text_tower = partial(TowerTextEncoder, "clip", **spec["tower"])
    paths = [Path(p) for p in spec["images"]]
    captions = spec["captions"]
    with ray_session(compute):
        extract_features(
            image_tower(),
            paths,
            work / "ray-image.npy",
            [p.name for p in paths],
            spec["shard_size"],
            encode_shards=shard_encoder(image_tower, compute),
        )
        ids = [str(i) for i in range(len(captions))]
        text = create_features(work / "ray-text.npy", ids, text_tower().dim)
        batch_rows = spec["tower"]["batch_size"]
        chunk_bytes = spec["text_chunk_rows"] * 4 * text.shape[1]
        encode_captions(
            text_tower, captions, text, compute, batch_rows=batch_rows, chunk_bytes=chunk_bytes
        )
        text.flush()

        fisher = FisherVectors.load(work / "fisher")
        rows = spec["token_rows"]
        ids = [str(i) for i in range(len(rows))]
        out = create_features(work / "ray-fisher.npy", ids, fisher.n_features_out)
        fisher_vectors(fisher, rows, np.load(work / "words.npy"), out, compute, chunk_bytes=1)
        out.flush()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
