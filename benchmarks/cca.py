"""Benchmark: the CCA fit and the retrieval evaluation at the real datasets' shapes.

    .venv/bin/python benchmarks/cca.py                 # everything (about 15 min, 2 cores)
    .venv/bin/python benchmarks/cca.py --shapes flickr30k --skip sklearn

Generates random features with planted correlations at the shapes of Flickr30k (29,000
train images x 5 captions) and COCO (113,287 x 5), dx=4096 (VGG), dy=300 (word2vec), as
.npy files in --data-dir (default /tmp/tie-cca-benchmark; never the repository), then
runs each approach in its own subprocess, so that each peak RSS is its own, and prints:

- project: `tie.moments.stream.covariances` on the memory-mapped files + `CCA.fit_covariances`;
- floor: `X.T @ X` on the per-image matrix (float64, in RAM) + one Cholesky of dx x dx,
  the work no closed-form CCA can skip;
- seed: every caption row stacked with its image's row, covariance of the stacked
  (dx+dy) columns, `scipy.linalg.eigh` of the (dx+dy)^2 generalised problem, top k
  (Flickr30k only);
- sklearn: `sklearn.cross_decomposition.CCA(n_components=k)` on subsamples of the
  stacked pairs, its time extrapolated to all pairs and k by its own measured scaling;
- COCO 5K evaluation: `tie.joint.retrieval.ranks` on 5,000 images x 25,000 captions, both
  directions, against the similarity matmul alone (in one go, and in the same chunks).

Columns: wall and CPU seconds of the timed part (CPU time, summed over BLAS threads,
suffers less than wall time when other work shares the cores); peak RSS of the process
(VmHWM: includes its inputs and the pages of memory-mapped files it read); "extra": peak
of the process's own (anonymous) memory above what it held before the timed part
(sampled every 20 ms), i.e. the working memory of the approach beyond its inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SHAPES = {"flickr30k": 29_000, "coco": 113_287}  # train images, 5 captions each
CAPTIONS_PER_IMAGE = 5
DX, DY = 4096, 300
N_LATENT = 64  # planted shared dimensions
REG = 1e-3
EVAL_IMAGES = 5_000
SKLEARN_SUBSAMPLES = [(5_000, 1), (10_000, 1), (5_000, 2)]  # (stacked pairs, components)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tie-cca-benchmark"))
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--components", type=int, default=256, help="k (default 256)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["seed", "sklearn", "eval"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.data_dir, args.components)
        return

    print_environment()
    rows = []
    for shape in args.shapes:
        generate(args.data_dir, shape)
        rows.append(child(args, "project", shape))
        rows.append(child(args, "floor", shape))
        if shape == "flickr30k" and "seed" not in args.skip:
            rows.append(child(args, "seed", shape))
        if shape == "flickr30k" and "sklearn" not in args.skip:
            rows.append(sklearn_extrapolated(args, shape))
    if "eval" not in args.skip:
        rows.append(child(args, "evaluate", "coco5k"))
        rows.append(child(args, "matmul", "coco5k"))
        rows.append(child(args, "chunked_matmul", "coco5k"))
    print_table(rows, args.components)


def print_environment() -> None:
    from threadpoolctl import threadpool_info

    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            print(
                f"  BLAS {pool['internal_api']} {pool['version']} {pool.get('architecture')}"
                f" threads={pool['num_threads']} ({Path(pool['filepath']).name})"
            )
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        print(f"  {name}={os.environ.get(name, '(unset)')}")


def paths(data_dir: Path, shape: str) -> dict[str, Path]:
    return {name: data_dir / f"{shape}_{name}.npy" for name in ("X", "Y", "image_index")}


def generate(data_dir: Path, shape: str) -> None:
    """float32 X (images x 4096) and Y (captions x 300) sharing N_LATENT dimensions."""
    files = paths(data_dir, shape)
    if all(path.exists() for path in files.values()):
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    n_images = SHAPES[shape]
    rng = np.random.default_rng(0)
    to_x = rng.normal(size=(N_LATENT, DX)).astype(np.float32)
    to_y = rng.normal(size=(N_LATENT, DY)).astype(np.float32)
    X = np.lib.format.open_memmap(files["X"], "w+", np.float32, (n_images, DX))
    Y = np.lib.format.open_memmap(files["Y"], "w+", np.float32, (n_images * CAPTIONS_PER_IMAGE, DY))
    step = 4096
    print(f"generating {shape} in {data_dir} ...", flush=True)
    for start in range(0, n_images, step):
        stop = min(start + step, n_images)
        latent = rng.normal(size=(stop - start, N_LATENT)).astype(np.float32)
        X[start:stop] = latent @ to_x + 4 * rng.normal(size=(stop - start, DX))
        captions = np.repeat(latent, CAPTIONS_PER_IMAGE, axis=0)
        noise = 6 * rng.normal(size=(len(captions), DY))
        Y[start * CAPTIONS_PER_IMAGE : stop * CAPTIONS_PER_IMAGE] = captions @ to_y + noise
    X.flush()
    Y.flush()
    np.save(files["image_index"], np.repeat(np.arange(n_images), CAPTIONS_PER_IMAGE))


def child(args, approach: str, shape: str, *extra: str) -> dict:
    """Run one approach in a fresh interpreter; it prints one JSON line."""
    command = [sys.executable, __file__, "--data-dir", str(args.data_dir)]
    command += ["--components", str(args.components), "--child", approach, shape, *extra]
    print(f"running {approach} on {shape} {' '.join(extra)} ...", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{approach} on {shape} failed:\n{result.stderr}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"  {row['wall_s']:.1f} s, peak RSS {row['peak_rss_mib']:.0f} MiB", flush=True)
    return row


def sklearn_extrapolated(args, shape: str) -> dict:
    """Time ~ pairs^a * k^b, a and b measured on subsamples, then extrapolated."""
    runs = [child(args, "sklearn", shape, str(n), str(k)) for n, k in SKLEARN_SUBSAMPLES]
    (n1, k1), (n2, _), (_, k2) = SKLEARN_SUBSAMPLES
    t11, t21, t12 = (run["wall_s"] for run in runs)
    a = np.log(t21 / t11) / np.log(n2 / n1)
    b = np.log(t12 / t11) / np.log(k2 / k1)
    n_pairs = SHAPES[shape] * CAPTIONS_PER_IMAGE
    estimate = t11 * (n_pairs / n1) ** a * (args.components / k1) ** b
    measured = ", ".join(
        f"{n} pairs k={k}: {run['wall_s']:.1f}s"
        for (n, k), run in zip(SKLEARN_SUBSAMPLES, runs, strict=True)
    )
    return {
        "approach": "sklearn CCA (EXTRAPOLATED)",
        "shape": shape,
        "wall_s": float(estimate),
        "cpu_s": float("nan"),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "extra_mib": max(run["extra_mib"] for run in runs),
        "note": f"time ~ pairs^{a:.2f} k^{b:.2f} from {measured}; RSS of the largest subsample",
    }


def print_table(rows: list[dict], k: int) -> None:
    print(f"\nk = {k} components, reg = {REG}, dx = {DX}, dy = {DY}")
    header = (
        f"{'approach':<30} {'shape':<10} {'wall s':>9} {'CPU s':>9} {'peak RSS MiB':>13}"
        f" {'extra MiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['approach']:<30} {row['shape']:<10} {row['wall_s']:>9.1f} {row['cpu_s']:>9.1f}"
            f" {row['peak_rss_mib']:>13.0f} {row['extra_mib']:>10.0f}  {row.get('note', '')}"
        )
    print()
    for clock in ("wall_s", "cpu_s"):
        seconds = {(row["approach"], row["shape"]): row[clock] for row in rows}
        for shape in SHAPES:
            if ("project", shape) in seconds:
                ratio = seconds[("project", shape)] / seconds[("floor", shape)]
                print(f"{clock} {shape}: project / floor = {ratio:.2f} (target <= 1.5)")
            if ("seed", shape) in seconds:
                speedup = seconds[("seed", shape)] / seconds[("project", shape)]
                print(f"{clock} {shape}: seed / project = {speedup:.1f}x (target >= 10)")
            sklearn = ("sklearn CCA (EXTRAPOLATED)", shape)
            if clock == "wall_s" and sklearn in seconds:
                speedup = seconds[sklearn] / seconds[("project", shape)]
                print(f"{clock} {shape}: sklearn (extrapolated) / project = {speedup:.0f}x")
        if ("evaluate", "coco5k") in seconds:
            for name in ("matmul", "chunked_matmul"):
                ratio = seconds[("evaluate", "coco5k")] / seconds[(name, "coco5k")]
                print(f"{clock} coco5k: evaluate / {name} = {ratio:.2f} (target <= 2)")


def status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmHWM, RssAnon, ...) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


class PeakMemory:
    """Peak anonymous memory of this process, sampled every 20 ms."""

    def __init__(self):
        self.peak_mib = status_mib("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak_mib = max(self.peak_mib, status_mib("RssAnon"))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mib, status_mib("RssAnon"))


def run_child(spec: list[str], data_dir: Path, k: int) -> None:
    approach, shape, *extra = spec
    prepare, timed = APPROACHES[approach]
    inputs = prepare(data_dir, shape, k, *extra)
    before = status_mib("RssAnon")
    memory = PeakMemory()
    start, cpu_start = time.perf_counter(), time.process_time()
    note = timed(inputs, k)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    extra_mib = memory.stop() - before
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork+exec.
    row = {"approach": approach, "shape": shape, "wall_s": wall, "cpu_s": cpu}
    row |= {"peak_rss_mib": status_mib("VmHWM"), "extra_mib": extra_mib, "note": note or ""}
    print(json.dumps(row))


def load(data_dir, shape, in_memory):
    files = paths(data_dir, shape)
    mode = None if in_memory else "r"
    return (np.load(files[name], mmap_mode=mode) for name in ("X", "Y", "image_index"))


def prepare_project(data_dir, shape, k):
    return tuple(load(data_dir, shape, in_memory=False))


def time_project(inputs, k):
    from tie.joint.cca import CCA
    from tie.moments.stream import covariances

    X, Y, image_index = inputs
    start = time.perf_counter()
    cov = covariances(X, Y, image_index)
    middle = time.perf_counter()
    CCA(n_components=k, reg=REG).fit_covariances(cov)
    end = time.perf_counter()
    return (
        f"memory-mapped float32 in; covariances {middle - start:.1f}s + "
        f"lambda_max/Cholesky/SVD {end - middle:.1f}s (per extra reg in a grid)"
    )


def prepare_floor(data_dir, shape, k):
    X, _, _ = load(data_dir, shape, in_memory=True)
    return X.astype(np.float64)


def time_floor(X, k):
    import scipy.linalg

    gram = X.T @ X
    gram.flat[:: len(gram) + 1] += REG * np.trace(gram) / len(gram)
    scipy.linalg.cholesky(gram, lower=True, overwrite_a=True)
    return "float64 X in RAM (load not timed)"


def prepare_seed(data_dir, shape, k):
    return tuple(load(data_dir, shape, in_memory=True))


def time_seed(inputs, k):
    import scipy.linalg

    X, Y, image_index = inputs
    stacked = np.empty((len(Y), DX + DY))
    stacked[:, :DX] = X[image_index]
    stacked[:, DX:] = Y
    stacked -= stacked.mean(axis=0)
    cov = stacked.T @ stacked / len(stacked)
    del stacked
    cov_xx, cov_yy, cov_xy = cov[:DX, :DX], cov[DX:, DX:], cov[:DX, DX:]
    a = np.zeros_like(cov)
    a[:DX, DX:] = cov_xy
    a[DX:, :DX] = cov_xy.T
    b = np.zeros_like(cov)
    b[:DX, :DX] = cov_xx + REG * np.trace(cov_xx) / DX * np.eye(DX)
    b[DX:, DX:] = cov_yy + REG * np.trace(cov_yy) / DY * np.eye(DY)
    d = DX + DY
    scipy.linalg.eigh(a, b, subset_by_index=[d - k, d - 1])
    return "stacked caption rows, float64, eigh of the (dx+dy)^2 pencil, top k"


def prepare_sklearn(data_dir, shape, k, n_pairs, n_components):
    X, Y, image_index = load(data_dir, shape, in_memory=False)
    rows = np.random.default_rng(0).choice(len(Y), size=int(n_pairs), replace=False)
    return np.asarray(X[image_index[rows]]), np.asarray(Y[rows]), int(n_components)


def time_sklearn(inputs, k):
    from sklearn.cross_decomposition import CCA as SklearnCCA

    X, Y, n_components = inputs
    SklearnCCA(n_components=n_components).fit(X, Y)
    return f"{len(X)} stacked pairs, k={n_components}"


def embeddings(k):
    """Unit-norm COCO 5K embeddings: 5,000 images, 25,000 captions, planted matches."""
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(EVAL_IMAGES, k))
    image_index = np.repeat(np.arange(EVAL_IMAGES), CAPTIONS_PER_IMAGE)
    images = latent + rng.normal(size=latent.shape)
    captions = latent[image_index] + rng.normal(size=(len(image_index), k))
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    captions /= np.linalg.norm(captions, axis=1, keepdims=True)
    return images, captions, image_index


def prepare_evaluation(data_dir, shape, k):
    return embeddings(k)


def time_evaluation(inputs, k):
    from tie.joint.retrieval import ranks

    ranks(*inputs)
    return "tie.joint.retrieval.ranks, both directions, exact ties, 256 MiB budget"


def time_matmul(inputs, k):
    images, captions, _ = inputs
    captions @ images.T
    return "captions @ images.T in one go (25,000 x 5,000 float64)"


def time_chunked_matmul(inputs, k):
    from tie.joint.retrieval import _BYTES_PER_SCORE

    images, captions, _ = inputs
    step = int(256 * 2**20 // (len(images) * _BYTES_PER_SCORE))
    for start in range(0, len(captions), step):
        captions[start : start + step] @ images.T
    return "the same products in the chunks ranks uses, nothing else"


APPROACHES = {
    "project": (prepare_project, time_project),
    "floor": (prepare_floor, time_floor),
    "seed": (prepare_seed, time_seed),
    "sklearn": (prepare_sklearn, time_sklearn),
    "evaluate": (prepare_evaluation, time_evaluation),
    "matmul": (prepare_evaluation, time_matmul),
    "chunked_matmul": (prepare_evaluation, time_chunked_matmul),
}


if __name__ == "__main__":
    main()
