"""Images/s of the image_features stage's work vs the bare forward pass of the same network.

    python benchmarks/feature_extraction.py                       # vgg19, inceptionresnetv2
    python benchmarks/feature_extraction.py --images 256 --models vgg19

"full stage": `extract_features` on JPEG files (500x375, Flickr-sized), i.e. tf.data
read + decode + resize, the network, sharded writing and the final merge.
"bare forward": the same compiled forward function on one pre-decoded batch already in
memory, repeated. Both at the same batch size, after one warm-up batch (graph tracing),
with random weights (`weights: none`; the speed does not depend on the values).
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


def bare_forward(encoder: KerasBackbone, batch_size: int, repeats: int) -> float:
    import tensorflow as tf

    size = encoder.input_size
    batch = tf.constant(
        np.random.default_rng(0).uniform(0, 255, (batch_size, size, size, 3)), dtype=tf.float32
    )
    encoder.forward(batch).numpy()  # trace
    start = time.perf_counter()
    for _ in range(repeats):
        encoder.forward(batch).numpy()
    return repeats * batch_size / (time.perf_counter() - start)


def full_stage(encoder: KerasBackbone, paths: list[Path], folder: Path) -> float:
    warm = paths[: encoder.batch_size]
    extract_features(encoder, warm, folder / "warm.npy", [p.name for p in warm])
    start = time.perf_counter()
    extract_features(encoder, paths, folder / "features.npy", [p.name for p in paths])
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg19", "inceptionresnetv2"])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="tie-features-bench-") as tmp:
        folder = Path(tmp)
        paths = write_images(folder, args.images)
        for name in args.models:
            encoder = KerasBackbone(name, weights="none", batch_size=args.batch_size)
            bare = bare_forward(encoder, args.batch_size, max(1, args.images // args.batch_size))
            full = full_stage(encoder, paths, folder)
            rows.append((name, encoder.input_size, encoder.dim, full, bare))

    print(f"\nbatch {args.batch_size}, {args.images} JPEG images 500x375, random weights")
    print(
        f"{'model':<20}{'input':>6}{'dim':>6}{'full stage img/s':>18}{'bare img/s':>12}{'ratio':>7}"
    )
    for name, size, dim, full, bare in rows:
        print(f"{name:<20}{size:>6}{dim:>6}{full:>18.2f}{bare:>12.2f}{full / bare:>7.0%}")


if __name__ == "__main__":
    main()
