"""Images/s of the image_features stage's work vs the bare forward pass of the same network.

    python benchmarks/feature_extraction.py                       # vgg19, inceptionresnetv2
    python benchmarks/feature_extraction.py --images 256 --models vgg19 resnet50

"full stage": `extract_features` on JPEG files (500x375, Flickr-sized): tf.data read,
decode and resize, the network, sharded writing and the final merge.
"bare forward": the same compiled forward function on one batch of those images,
already decoded and in memory, repeated. "input pipeline alone": tf.data with no network,
to show how far it is from being the bottleneck. All at the same batch size, after a
warm-up (graph tracing), with random weights (`weights: none`; speed does not depend on
the values). On a shared machine, other processes' load moves the numbers: bare and full
are measured alternately, `--rounds` times each, and the best of each is reported.
The images are written to a temporary folder, not the repository.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tie.image.extract import extract_features
from tie.image.keras_backbone import KerasBackbone


def write_images(folder: Path, n: int) -> list[Path]:
    """Smooth gradients with some noise: JPEG sizes like photos', not like pure noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:375, 0:500].astype(np.float32)
    paths = []
    for k in range(n):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([x * a / 2, y * b / 1.5, (x + y) * c / 3.5], axis=-1)
        noisy = base + rng.normal(0, 12, base.shape)
        path = folder / f"{k:05d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def pipeline_alone(encoder: KerasBackbone, paths: list[Path]) -> float:
    start = time.perf_counter()
    for _ in encoder.dataset(paths):
        pass
    return len(paths) / (time.perf_counter() - start)


def bare_forward(encoder: KerasBackbone, batch, n_images: int, repeats: int) -> float:
    """`batch` holds the crops of `n_images` images (one crop each with `crops: 1`)."""
    start = time.perf_counter()
    for _ in range(repeats):
        encoder.forward(batch).numpy()
    return repeats * n_images / (time.perf_counter() - start)


def full_stage(encoder: KerasBackbone, paths: list[Path], out: Path) -> float:
    start = time.perf_counter()
    extract_features(encoder, paths, out, [p.name for p in paths])
    return len(paths) / (time.perf_counter() - start)


def measure(name: str, paths: list[Path], folder: Path, batch_size: int, rounds: int):
    import tensorflow as tf

    encoder = KerasBackbone(name, weights="none", batch_size=batch_size)
    size = encoder.input_size
    warm = paths[:batch_size]
    extract_features(encoder, warm, folder / "warm.npy", [p.name for p in warm])
    # The dataset yields one image at a time: stack a whole batch, as feature_batches does
    # (taking only its first element would time the network at batch 1).
    crops = [images for _, images in encoder.dataset(warm).as_numpy_iterator()]
    batch = tf.constant(np.concatenate(crops).reshape(-1, size, size, 3))
    pipeline = max(pipeline_alone(encoder, paths) for _ in range(rounds))
    repeats = max(1, len(paths) // batch_size)
    bare, full = [], []
    for _ in range(rounds):
        bare.append(bare_forward(encoder, batch, len(crops), repeats))
        full.append(full_stage(encoder, paths, folder / "features.npy"))
    return encoder, max(full), max(bare), pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg19", "inceptionresnetv2"])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="tie-features-bench-") as tmp:
        folder = Path(tmp)
        paths = write_images(folder, args.images)
        for name in args.models:
            encoder, full, bare, pipeline = measure(
                name, paths, folder, args.batch_size, args.rounds
            )
            rows.append((name, encoder.input_size, encoder.dim, full, bare, pipeline))

    print(
        f"\nbatch {args.batch_size}, {args.images} JPEG images 500x375, random weights,"
        f" best of {args.rounds}"
    )
    header = ("model", "input", "dim", "full stage", "bare fwd", "full/bare", "pipeline")
    print("{:<20}{:>6}{:>6}{:>12}{:>10}{:>11}{:>10}   (img/s)".format(*header))
    for name, size, dim, full, bare, pipeline in rows:
        print(
            f"{name:<20}{size:>6}{dim:>6}{full:>12.2f}{bare:>10.2f}{full / bare:>11.0%}"
            f"{pipeline:>10.1f}"
        )


if __name__ == "__main__":
    main()
