"""What the content-keyed resume costs: hashing every input image vs extracting features.

    python benchmarks/resume_key.py                      # demo (1,400) + Flickr8k-size (8,091)
    python benchmarks/resume_key.py --flickr-images 2000

`tie.image.extract` keys its shards by the SHA-256 of every image's bytes, so it reads
each image once more per run. Two sets: the demo dataset as `dvc repro` makes it (1,400
PNG images, 96x96), and Flickr8k-sized JPEG files (8,091 images of 500x375, photo-like
file sizes; `benchmarks/feature_extraction.py`'s generator). For each: the time of
`resume_key` (files in the page cache, as right after the `data` stage; best of
`--rounds`) beside one `extract_features` run with `colorgrid`, the cheapest encoder
(a CNN is slower by orders of magnitude). The images go to a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from feature_extraction import write_images

from tie.datasets.demo import generate_demo
from tie.image.colorgrid import ColorGrid
from tie.image.extract import SHARD_SIZE, extract_features, resume_key
from tie.raw.layout import demo_layout


def measure(paths: list[Path], out: Path, rounds: int) -> tuple[float, float, float]:
    """(megabytes of the images, seconds to hash them, seconds to extract their features)."""
    encoder, ids = ColorGrid(), [p.name for p in paths]
    megabytes = sum(p.stat().st_size for p in paths) / 2**20
    hashing = []
    for _ in range(rounds):
        start = time.perf_counter()
        resume_key(encoder, paths, ids, SHARD_SIZE)
        hashing.append(time.perf_counter() - start)
    start = time.perf_counter()
    extract_features(encoder, paths, out, ids)
    return megabytes, min(hashing), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flickr-images", type=int, default=8091)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="tie-resume-key-bench-") as tmp:
        folder = Path(tmp)
        generate_demo(folder / "demo")
        demo = sorted(demo_layout(folder / "demo").image_dir.iterdir())
        rows.append(("demo PNG 96x96", demo, *measure(demo, folder / "demo.npy", args.rounds)))
        (folder / "jpeg").mkdir()
        flickr = write_images(folder / "jpeg", args.flickr_images)
        timings = measure(flickr, folder / "flickr.npy", args.rounds)
        rows.append(("Flickr8k-size JPEG 500x375", flickr, *timings))

    print(f"\nSHA-256 of every image (best of {args.rounds}) vs one colorgrid extraction")
    header = ("images", "n", "MB", "hash s", "MB/s", "extract s", "hash/extract")
    print("{:<28}{:>7}{:>8}{:>9}{:>8}{:>11}{:>14}".format(*header))
    for name, paths, megabytes, hashing, extracting in rows:
        print(
            f"{name:<28}{len(paths):>7}{megabytes:>8.0f}{hashing:>9.2f}"
            f"{megabytes / hashing:>8.0f}{extracting:>11.2f}{hashing / extracting:>14.1%}"
        )


if __name__ == "__main__":
    main()
