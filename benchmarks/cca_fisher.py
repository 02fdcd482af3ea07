"""Benchmark: the CCA fit with a Fisher-vector text side (18,000-d) at the Flickr30k shape.

    .venv/bin/python benchmarks/cca_fisher.py                       # scaled series, ~5 min
    .venv/bin/python benchmarks/cca_fisher.py --scale 1 --dims 18000  # the full shape (hours
                                                                      # on 2 cores, ~12 GB disk)
    .venv/bin/python benchmarks/cca_fisher.py --scale 8 --dims 18000 --approaches project floor

The full shape (29,000 train images x 5 captions, 4,096-d images, 18,000-d captions: Klein's
hglmm_30 on ica_300) is scaled down by --scale in rows, and run for several text
dimensions, each in its own subprocess (its own peak RSS), on random float32 features with
planted correlations written as .npy files in --data-dir (never the repository):

- project: `tie.moments.stream.covariances` on the memory-mapped files, then `CCA.fit_covariances`;
- floor: the Gram products it cannot avoid (X^T X over images weighted by their caption
  counts, Y^T Y and X^T Y over captions: float64 BLAS on in-RAM chunks) and the two
  Cholesky factorisations;
- float32: the same Gram products accumulated chunk by chunk in float32 into float64 sums,
  and the largest difference of the top canonical correlations from the float64 fit.

Then the Gram time of the full Flickr30k and COCO shapes is extrapolated from the largest
measured point, proportional to rows x (dx^2/5 + dx dy + dy^2): an estimate, not a
measurement. (The factorisations are not extrapolated: at small dy their time is that of
the 4,096-d image side, not of dy^3.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

# OpenBLAS's threaded syrk/Cholesky crash at order >= 16,000 on AVX-512 CPUs: the floor
# runs them on one thread there too, as tie.joint.cca does (its _THREADED_SYRK_MAX_ORDER).
from tie.moments.blas import safe_threads as _safe_syrk_threads

FULL_IMAGES = {"flickr30k": 29_000, "coco": 113_287}
CAPTIONS_PER_IMAGE = 5
DX = 4096
N_LATENT = 32
N_COMPONENTS = 128
REG = 1e-3
CHUNK_ROWS = 2048


def make_data(directory: Path, n_images: int, dy: int) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    x_path, y_path = directory / f"x-{n_images}.npy", directory / f"y-{n_images}-{dy}.npy"
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(n_images, N_LATENT)).astype(np.float32)
    if not x_path.exists():
        mix = rng.normal(size=(N_LATENT, DX)).astype(np.float32)
        x = latent @ mix + rng.normal(size=(n_images, DX)).astype(np.float32)
        np.save(x_path, x)
    if not y_path.exists():
        mix = rng.normal(size=(N_LATENT, dy)).astype(np.float32)
        y = np.lib.format.open_memmap(
            y_path, mode="w+", dtype=np.float32, shape=(n_images * CAPTIONS_PER_IMAGE, dy)
        )
        for start in range(0, n_images, CHUNK_ROWS):
            rows = latent[start : start + CHUNK_ROWS]
            captions = np.repeat(rows, CAPTIONS_PER_IMAGE, axis=0) @ mix
            captions += 2 * rng.normal(size=captions.shape).astype(np.float32)
            y[start * CAPTIONS_PER_IMAGE : start * CAPTIONS_PER_IMAGE + len(captions)] = captions
        y.flush()
        del y
    return x_path, y_path


def grams(X, Y, image_index, dtype):
    """Centred Gram products by chunks computed in `dtype`, summed in float64."""
    counts = np.bincount(image_index, minlength=len(X))
    x_mean = counts @ X.astype(np.float64) / len(Y)
    y_mean = np.zeros(Y.shape[1])
    for start in range(0, len(Y), CHUNK_ROWS):
        y_mean += Y[start : start + CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    y_mean /= len(Y)
    xx = np.zeros((X.shape[1],) * 2)
    yy = np.zeros((Y.shape[1],) * 2)
    xy = np.zeros((X.shape[1], Y.shape[1]))
    for start in range(0, len(X), CHUNK_ROWS // CAPTIONS_PER_IMAGE):
        stop = min(len(X), start + CHUNK_ROWS // CAPTIONS_PER_IMAGE)
        x = (X[start:stop] - x_mean).astype(dtype)
        y = (Y[start * CAPTIONS_PER_IMAGE : stop * CAPTIONS_PER_IMAGE] - y_mean).astype(dtype)
        sums = y.reshape(stop - start, CAPTIONS_PER_IMAGE, -1).sum(axis=1)
        xx += (x * CAPTIONS_PER_IMAGE).T @ x
        with _safe_syrk_threads(len(yy)):
            yy += y.T @ y
        xy += x.T @ sums
    return xx / len(Y), yy / len(Y), xy / len(Y)


def correlations(xx, yy, xy):
    lx = scipy.linalg.cholesky(xx + REG * np.trace(xx) / len(xx) * np.eye(len(xx)), lower=True)
    with _safe_syrk_threads(len(yy)):
        ly = scipy.linalg.cholesky(yy + REG * np.trace(yy) / len(yy) * np.eye(len(yy)), lower=True)
    left = scipy.linalg.solve_triangular(lx, xy, lower=True)
    whitened = scipy.linalg.solve_triangular(ly, left.T, lower=True).T
    return scipy.linalg.svd(whitened, compute_uv=False)[:N_COMPONENTS]


def child(kind: str, x_path: Path, y_path: Path) -> dict:
    X = np.load(x_path, mmap_mode="r")
    Y = np.load(y_path, mmap_mode="r")
    image_index = np.repeat(np.arange(len(X)), CAPTIONS_PER_IMAGE)
    result = {}
    start = time.perf_counter()
    if kind == "project":
        from tie.joint.cca import CCA
        from tie.moments.stream import covariances

        cov = covariances(X, Y, image_index=image_index)
        result["gram_s"] = time.perf_counter() - start
        start = time.perf_counter()
        CCA(n_components=N_COMPONENTS, reg=REG).fit_covariances(cov)
        result["factor_s"] = time.perf_counter() - start
    else:
        X = np.asarray(X)
        xx, yy, xy = grams(X, Y, image_index, np.float64 if kind == "floor" else np.float32)
        result["gram_s"] = time.perf_counter() - start
        start = time.perf_counter()
        if kind == "floor":  # with the ridge: fewer images than dx at small scales
            for cov in (xx, yy):
                cov[np.diag_indices(len(cov))] += REG * np.trace(cov) / len(cov)
                with _safe_syrk_threads(len(cov)):
                    scipy.linalg.cholesky(cov, lower=True, overwrite_a=True, check_finite=False)
            result["factor_s"] = time.perf_counter() - start
        else:
            exact = correlations(*grams(X, Y, image_index, np.float64))
            result["max_corr_diff"] = float(np.abs(correlations(xx, yy, xy) - exact).max())
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tie-cca-fisher-benchmark"))
    parser.add_argument("--scale", type=int, default=16, help="rows divided by this")
    parser.add_argument("--dims", type=int, nargs="+", default=[1125, 2250, 4500])
    parser.add_argument(
        "--approaches",
        nargs="+",
        default=["project", "floor", "float32"],
        choices=["project", "floor", "float32"],
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, x_path, y_path = args.child
        print(json.dumps(child(kind, Path(x_path), Path(y_path))))
        return
    n_images = FULL_IMAGES["flickr30k"] // args.scale
    print(
        f"Flickr30k shape / {args.scale}: {n_images} images x {CAPTIONS_PER_IMAGE} captions,"
        f" dx={DX}; k={N_COMPONENTS}, reg={REG}\n"
    )
    print(
        f"{'dy':>6} {'approach':8} {'gram s':>8} {'factor s':>9} {'total s':>8}"
        f" {'peak RSS GB':>11} {'max |corr diff|':>16}"
    )
    last = {}
    for dy in args.dims:
        x_path, y_path = make_data(args.data_dir, n_images, dy)
        for kind in args.approaches:
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(x_path), str(y_path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            total = r["gram_s"] + r.get("factor_s", 0)
            factor = f"{r['factor_s']:9.1f}" if "factor_s" in r else f"{'':9}"
            diff = f"{r['max_corr_diff']:16.1e}" if "max_corr_diff" in r else ""
            print(
                f"{dy:6} {kind:8} {r['gram_s']:8.1f} {factor} {total:8.1f}"
                f" {r['peak_rss_gb']:11.2f} {diff}"
            )
            last[kind] = (dy, r)
    if "project" not in last:
        return
    dy, project = last["project"]
    rows = n_images * CAPTIONS_PER_IMAGE
    print("\nExtrapolated (estimates) to dy=18000 from the last row:")
    for name, images in FULL_IMAGES.items():
        full_rows = images * CAPTIONS_PER_IMAGE

        def work(n, d):
            return n * (DX**2 / CAPTIONS_PER_IMAGE + DX * d + d**2)

        gram = project["gram_s"] * work(full_rows, 18000) / work(rows, dy)
        memory = (18000**2 * 3 + DX**2 * 2 + DX * 18000 * 3) * 8 / 2**30
        print(
            f"  {name}: Gram products ~{gram / 3600:.1f} h on these cores (as loaded now);"
            f" covariances + factors + SVD in float64 ~{memory:.0f} GB RAM"
        )


if __name__ == "__main__":
    main()
