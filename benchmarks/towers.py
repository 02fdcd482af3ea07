"""CLIP towers at ViT-B/32 size: the image_features stage vs the bare forward pass, and
the text tower's captions/s, in float32 and bfloat16.

    python benchmarks/towers.py                     # 128 images, 512 captions, 3 rounds
    python benchmarks/towers.py --images 256 --rounds 5

A random CLIP of ViT-B/32's shape (patch 32 at 224 pixels, width 768, 12 layers; text
width 512, 12 layers, 77 tokens; projection 512) is saved as a KerasHub preset in a
temporary folder and loaded through the preset, as the pipeline does (speed does not
depend on the weights' values).

"full stage": `extract_features` on JPEG files (500x375, Flickr-sized): tf.data read and
decode, the preset's image converter (resize, crop, normalise), the vision tower, sharded
writing and the merge. "bare forward": the same compiled vision tower on one batch
already converted and in memory, repeated. "pipeline": tf.data alone (read, decode,
convert, batch; no network), to show how far it is from being the bottleneck. "text":
`TowerTextEncoder.encode` on demo-like captions (tokenizer, packing, text tower). The
variants are run interleaved, round after round, and the best of each is reported: on
a shared machine, the ratios are what to read, more than the absolute numbers. The
bfloat16 rows also give the cosine between each embedding and its float32 counterpart
(min/mean over the images or captions), raw and after removing the float32 rows' mean
(see `centred_cosines`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from feature_extraction import write_images  # noqa: E402
from tower_presets import WORDS, make_clip  # noqa: E402

from tie.image.extract import extract_features  # noqa: E402
from tie.image.tower import TowerImageEncoder  # noqa: E402
from tie.text.tower import TowerTextEncoder  # noqa: E402

VIT_B_32 = {
    "image_size": 224,
    "patch_size": 32,
    "width": 768,
    "layers": 12,
    "heads": 12,
    "text_width": 512,
    "text_layers": 12,
    "text_heads": 8,
    "vocabulary_size": 49408,
    "sequence_length": 77,
    "projection_dim": 512,
}
DTYPES = ("float32", "bfloat16")


def captions(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=rng.integers(6, 16))) for _ in range(n)]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def centred_cosines(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosines after removing the float32 rows' mean: random towers give every input
    nearly the same direction, which would hide the change in what tells rows apart."""
    mean = reference.mean(axis=0)
    return cosines(rows - mean, reference - mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--captions", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--text-batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="tie-towers-bench-") as tmp:
        folder = Path(tmp)
        preset = make_clip(folder / "clip_vit_b32_random", 0, **VIT_B_32)
        paths = write_images(folder, args.images)
        ids = [p.name for p in paths]
        texts = captions(args.captions)
        image = {
            d: TowerImageEncoder("clip", preset=str(preset), batch_size=args.batch_size, dtype=d)
            for d in DTYPES
        }
        text = {
            d: TowerTextEncoder(
                "clip", preset=str(preset), batch_size=args.text_batch_size, dtype=d
            )
            for d in DTYPES
        }
        batches, rows, text_rows = {}, {}, {}
        for d in DTYPES:  # warm-up: load, trace, and keep one converted batch in memory
            _, batch = next(iter(image[d].dataset(paths[: args.batch_size])))
            batches[d] = tf.constant(batch)
            image[d].forward(batches[d])
            text[d].encode(texts[: args.text_batch_size])
        repeats = max(1, args.images // args.batch_size)

        best = {}

        def record(key, per_second):
            best[key] = max(best.get(key, 0.0), per_second)

        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in image["float32"].dataset(paths):
                pass
            record(("pipeline", "float32"), len(paths) / (time.perf_counter() - start))
            for d in DTYPES:
                start = time.perf_counter()
                extract_features(image[d], paths, folder / f"{d}.npy", ids)
                record(("stage", d), len(paths) / (time.perf_counter() - start))
                rows[d] = np.load(folder / f"{d}.npy")

                start = time.perf_counter()
                for _ in range(repeats):
                    image[d].forward(batches[d]).numpy()
                record(("bare", d), repeats * args.batch_size / (time.perf_counter() - start))

                start = time.perf_counter()
                text_rows[d] = text[d].encode(texts)
                record(("text", d), len(texts) / (time.perf_counter() - start))

    print(
        f"\nCLIP ViT-B/32 size, random weights; {args.images} JPEG images 500x375, batch"
        f" {args.batch_size}; {args.captions} captions, batch {args.text_batch_size};"
        f" best of {args.rounds} interleaved rounds"
    )
    header = ("dtype", "stage img/s", "bare img/s", "stage/bare", "text cap/s")
    header += ("cos img", "cos txt", "centred img", "centred txt")
    print("{:<10}{:>13}{:>12}{:>12}{:>12}{:>16}{:>16}{:>16}{:>16}".format(*header))
    for d in DTYPES:
        stage, bare, speed = best[("stage", d)], best[("bare", d)], best[("text", d)]
        columns = [
            cosines(rows[d], rows["float32"]),
            cosines(text_rows[d], text_rows["float32"]),
            centred_cosines(rows[d], rows["float32"]),
            centred_cosines(text_rows[d], text_rows["float32"]),
        ]
        print(
            f"{d:<10}{stage:>13.1f}{bare:>12.1f}{stage / bare:>12.0%}{speed:>12.1f}"
            + "".join(f"{f'{c.min():.5f}/{c.mean():.5f}':>16}" for c in columns)
        )
    print(f"input pipeline alone (tf.data, no network): {best[('pipeline', 'float32')]:.1f} img/s")
    ratio = {k: best[(k, "bfloat16")] / best[(k, "float32")] for k in ("stage", "bare", "text")}
    print(
        f"bfloat16 / float32: stage {ratio['stage']:.2f}x, bare {ratio['bare']:.2f}x,"
        f" text {ratio['text']:.2f}x   (cos: min/mean over rows)"
    )


if __name__ == "__main__":
    main()
