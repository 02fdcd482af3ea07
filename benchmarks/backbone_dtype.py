"""`backbone.dtype: bfloat16` against float32 for a Keras CNN, on real photos.

    python benchmarks/backbone_dtype.py                  # mobilenet, 256 photos, 3 rounds
    python benchmarks/backbone_dtype.py --images 512 --rounds 5 --photos DIR

The photos are the real Flickr8k ones of `../shared/real` (flickr8k-1500/images, read in
place, never copied; `TIE_REAL_DIR` names that folder elsewhere, as for the tests) and the
weights the real ImageNet ones in Keras' cache (MobileNet v1:
`../shared/real/install-mobilenet-weights`). For each dtype, round after round
(interleaved, so that other processes' load falls on both): "full stage" is
`KerasBackbone.feature_batches` over the photo files (tf.data read, decode and resize, the
network), "bare forward" the same compiled network on one batch already decoded and in
memory, repeated. The best round of each is reported. Then the cosine between each photo's
bfloat16 row and its float32 row (min and mean over the photos), raw and after removing
the float32 rows' mean (the rows are non-negative averages, so raw cosines flatter).
Prints whether the CPU has AVX512-BF16 / AMX (from /proc/cpuinfo): without them bfloat16
is emulated and slower.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from tie.image.keras_backbone import KerasBackbone

REPO = Path(__file__).resolve().parents[1]
# the real material, as tests/real_photos.py finds it: $TIE_REAL_DIR, or shared/real beside the repo
REAL_DIR = Path(os.environ.get("TIE_REAL_DIR") or REPO.parent / "shared" / "real")
PHOTOS = REAL_DIR / "flickr8k-1500" / "images"
DTYPES = ("float32", "bfloat16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and flags, from /proc/cpuinfo (Linux)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown", set()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    return fields.get("model name", "unknown"), set(fields.get("flags", "").split())


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def stage_rows(encoder: KerasBackbone, paths: list[Path]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    rows = np.zeros((len(paths), encoder.dim), np.float32)
    for positions, features in encoder.feature_batches(paths):
        rows[positions] = features
    return rows, time.perf_counter() - start


def bare_forward(encoder: KerasBackbone, batch, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        encoder.forward(batch).numpy()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet")
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf

    paths = sorted(args.photos.glob("*.jpg"))[: args.images]
    if not paths:
        raise SystemExit(f"no .jpg photos in {args.photos} (see ../shared/real/README.md)")
    encoders = {
        dtype: KerasBackbone(
            args.model, weights="imagenet", batch_size=args.batch_size, dtype=dtype
        )
        for dtype in DTYPES
    }
    first = next(iter(encoders.values()))
    decoded = [crops[0] for _, crops in first.dataset(paths[: args.batch_size]).as_numpy_iterator()]
    batch = tf.constant(np.stack(decoded))
    repeats = max(1, len(paths) // args.batch_size)
    for encoder in encoders.values():  # warm-up: build, trace
        encoder.forward(batch).numpy()

    best = {(dtype, kind): float("inf") for dtype in DTYPES for kind in ("stage", "bare")}
    rows = {}
    for _ in range(args.rounds):
        for dtype, encoder in encoders.items():
            rows[dtype], seconds = stage_rows(encoder, paths)
            best[dtype, "stage"] = min(best[dtype, "stage"], seconds)
            seconds = bare_forward(encoder, batch, repeats)
            best[dtype, "bare"] = min(best[dtype, "bare"], seconds)

    model, flags = cpu_info()
    print(
        f"{args.model}, {len(paths)} real photos from {args.photos}, batch {args.batch_size},"
        f" best of {args.rounds} interleaved rounds; CPU {model} ({os.cpu_count()} logical),"
        f" {len(tf.config.list_physical_devices('CPU'))} TF CPU device(s);"
        f" bf16 flags: {', '.join(sorted(flags & set(BF16_FLAGS))) or 'none'}"
        f" (avx512f: {'yes' if 'avx512f' in flags else 'no'})"
    )
    raw = cosines(rows["bfloat16"], rows["float32"])
    mean = rows["float32"].mean(0)
    centred = cosines(rows["bfloat16"] - mean, rows["float32"] - mean)
    print()
    print("| dtype | full stage (images/s) | bare forward (images/s) | vs float32 (stage / bare) |")
    print("|---|---|---|---|")
    stage32 = len(paths) / best["float32", "stage"]
    bare32 = repeats * args.batch_size / best["float32", "bare"]
    for dtype in DTYPES:
        stage = len(paths) / best[dtype, "stage"]
        bare = repeats * args.batch_size / best[dtype, "bare"]
        print(
            f"| {dtype} | {stage:.1f} | {bare:.1f} |"
            f" {stage / stage32:.2f}x / {bare / bare32:.2f}x |"
        )
    print()
    print("| cosine of bfloat16 rows with float32 rows | min | mean |")
    print("|---|---|---|")
    print(f"| raw | {raw.min():.6f} | {raw.mean():.6f} |")
    print(f"| centred (float32 mean removed) | {centred.min():.6f} | {centred.mean():.6f} |")


if __name__ == "__main__":
    main()
