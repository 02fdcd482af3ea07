"""The Ray engine's overhead and scaling, against the local engine, on this machine.

    python benchmarks/ray_engine.py                     # demo size and Flickr8k size
    python benchmarks/ray_engine.py --sizes 1400 --rounds 2

Runs inside network and PID namespaces of its own (it re-executes itself under
`unshare --net --pid`, as root), so the Ray cluster it starts (two nodes at 127.0.0.1,
one CPU each, `ray.cluster_utils.Cluster`) talks on loopback only and ends with it.

For each set of images (demo-style 96 px PNGs written to a temporary folder):
- `local`: `extract_features` with `colorgrid` in this process (one core);
- `ray x1`: the same on the cluster, one encoder actor (one node): the engine's overhead;
- `ray x2`: two actors, one per node: scaling from 1 to 2 worker nodes on these 2 cores.
The three are run in turn, `--rounds` times (the machine is shared: interleaved runs
see the same load), and the best time of each is reported, with ratios to `local`.
The same three engines then encode `--captions` captions (Flickr8k's count by default)
into Fisher vectors (HGLMM, K=30, over an 8,000-word vocabulary of random 50-d vectors,
0-11 words per caption: 3,000-d rows), the driver writing the memory-mapped `.npy`.
Then the per-image cost of a CPU-bound CNN here (vgg19, random weights, 224 px) and the
projection it gives for CC3M (3.3M images) on N workers, stated as a projection.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

CC3M_IMAGES = 3_318_333  # image-caption pairs of Conceptual Captions' train set
VOCABULARY, WORD_DIM = 8_000, 50  # Fisher-vector benchmark: about Flickr8k's words, GloVe 50-d
INSIDE = "TIE_BENCHMARK_IN_NAMESPACE"


def reexec_in_namespace() -> None:
    script = 'ip link set lo up && exec "$@"'
    command = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh"]
    env = dict(os.environ, **{INSIDE: "1", "RAY_USAGE_STATS_ENABLED": "0"})
    sys.exit(subprocess.call(command + [sys.executable, *sys.argv], env=env))


def write_images(folder: Path, n: int) -> list[Path]:
    from tie.datasets.demo import generate_demo
    from tie.raw.layout import demo_layout

    generate_demo(folder, n_train=n, n_val=0, n_test=0, image_size=96, seed=0)
    return sorted(demo_layout(folder).image_dir.iterdir())


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def encode(paths, out, engine_shards=None):
    from tie.image.colorgrid import ColorGrid
    from tie.image.extract import extract_features

    extract_features(ColorGrid(), paths, out, [p.name for p in paths], encode_shards=engine_shards)
    out.unlink()


def fisher_inputs(n_captions: int):
    """A fitted Fisher-vector encoder, captions as rows of its word vectors, the vectors."""
    import numpy as np

    from tie.text.fisher_vectors import FisherVectors

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(VOCABULARY, WORD_DIM)).astype(np.float32)
    rows = [rng.integers(0, VOCABULARY, size=k).tolist() for k in rng.integers(0, 12, n_captions)]
    fisher = FisherVectors(mixture="hglmm", n_components=30, max_iter=10, seed=0).fit(vectors)
    return fisher, rows, vectors


def encode_fisher(fisher, rows, vectors, out: Path, compute=None):
    from tie.features.store import create_features
    from tie.text.ray import fisher_vectors

    matrix = create_features(out, [str(i) for i in range(len(rows))], fisher.n_features_out)
    if compute is None:
        fisher.encode(rows, vectors, out=matrix)
    else:
        fisher_vectors(fisher, rows, vectors, matrix, compute)
    matrix.flush()
    del matrix
    out.unlink()


def vgg19_seconds_per_image(folder: Path, n: int = 32) -> float:
    from tie.image.extract import extract_features
    from tie.image.keras_backbone import KerasBackbone

    encoder = KerasBackbone("vgg19", weights="none", batch_size=16)
    paths = write_images(folder / "vgg", n)
    extract_features(encoder, paths[:16], folder / "warm.npy", [p.name for p in paths[:16]])
    seconds = timed(
        lambda: extract_features(encoder, paths, folder / "v.npy", [p.name for p in paths])
    )
    return seconds / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1400, 8091])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--captions", type=int, default=40_455)
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        reexec_in_namespace()

    import ray
    from ray.cluster_utils import Cluster

    from tie.engine.ray import ray_session
    from tie.image.colorgrid import ColorGrid
    from tie.image.ray import shard_encoder

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 200 * 2**20},
    )
    cluster.add_node(num_cpus=1, object_store_memory=200 * 2**20)
    cluster.wait_for_nodes()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ray_session({"address": cluster.address}):
        nodes = [node["NodeManagerAddress"] for node in ray.nodes()]
        print(f"cluster: nodes at {nodes}", flush=True)
        tmp = Path(tmp)
        for n in args.sizes:
            paths = write_images(tmp / f"set{n}", n)
            engines = {
                "local": None,
                "ray x1": shard_encoder(partial(ColorGrid), {"concurrency": 1}),
                "ray x2": shard_encoder(partial(ColorGrid), {"concurrency": 2}),
            }
            best = dict.fromkeys(engines, float("inf"))
            for _ in range(args.rounds):
                for name, shards in engines.items():
                    seconds = timed(partial(encode, paths, tmp / "out.npy", shards))
                    best[name] = min(best[name], seconds)
            rows.append((n, best))
        fisher, token_rows, vectors = fisher_inputs(args.captions)
        fisher_engines = {"local": None, "ray x1": {"concurrency": 1}, "ray x2": {"concurrency": 2}}
        fisher_best = dict.fromkeys(fisher_engines, float("inf"))
        for _ in range(args.rounds):
            for name, compute in fisher_engines.items():
                run = partial(encode_fisher, fisher, token_rows, vectors, tmp / "fv.npy", compute)
                fisher_best[name] = min(fisher_best[name], timed(run))
        vgg = vgg19_seconds_per_image(tmp)
    cluster.shutdown()

    print(f"\ncolorgrid, best of {args.rounds} interleaved rounds (2 cores, shared machine)")
    print(f"{'images':>7} {'engine':>7} {'seconds':>8} {'img/s':>7} {'vs local':>9}")
    for n, best in rows:
        for name, seconds in best.items():
            ratio = seconds / best["local"]
            print(f"{n:>7} {name:>7} {seconds:>8.2f} {n / seconds:>7.0f} {ratio:>8.2f}x")
        print(f"{n:>7} 2 nodes vs 1: throughput x{best['ray x1'] / best['ray x2']:.2f}")
    n = args.captions
    print(f"\nFisher vectors ({fisher.n_features_out}-d), best of {args.rounds} interleaved rounds")
    print(f"{'captions':>8} {'engine':>7} {'seconds':>8} {'capt/s':>7} {'vs local':>9}")
    for name, seconds in fisher_best.items():
        ratio = seconds / fisher_best["local"]
        print(f"{n:>8} {name:>7} {seconds:>8.2f} {n / seconds:>7.0f} {ratio:>8.2f}x")
    print(f"{n:>8} 2 nodes vs 1: throughput x{fisher_best['ray x1'] / fisher_best['ray x2']:.2f}")
    print(f"\nvgg19 (224 px, random weights) here: {vgg:.3f} s per image on 2 cores")
    print(f"projection, CC3M ({CC3M_IMAGES:,} images) at that cost per worker, linear scaling:")
    for workers in (1, 8, 64):
        hours = CC3M_IMAGES * vgg / workers / 3600
        print(f"  {workers:>3} workers like this machine: {hours:8.1f} h")
    print("(a projection: a GPU worker's cost per image must be measured on that GPU)")


if __name__ == "__main__":
    main()
