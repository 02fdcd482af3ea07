"""What the bootstrap costs beside scoring: COCO 5K-sized intervals and a paired comparison.

    python benchmarks/bootstrap.py                    # 5,000 images x 5 captions, d=256
    python benchmarks/bootstrap.py --resamples 2000 --dim 512

Random embeddings with a planted match (each caption is its image's vector plus noise)
at COCO 5K's shape; a second run's captions have a little more noise. Timed, each alone:
one `tie.joint.retrieval.score` call (both directions, from the embeddings);
`tie.evaluation.bootstrap.intervals` of every metric of both directions from the ranks that call
computes; `tie.evaluation.bootstrap.paired` of the two runs. Peak memory is the peak of numpy's
allocations during each call (tracemalloc), beyond what was alive before it.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from tie.evaluation.bootstrap import intervals, paired
from tie.joint.retrieval import ranks, score

KS = (1, 5, 10)


def measure(call):
    """(seconds, peak MiB of new numpy allocations, result) of one call."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, result


def noisy_captions(rng, images, index, noise):
    """Each caption: its image's vector plus Gaussian noise (more noise, lower recall)."""
    shape = (len(index), images.shape[1])
    return images[index] + noise * rng.standard_normal(shape, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.images, args.dim), dtype=np.float32)
    index = np.repeat(np.arange(args.images), args.captions_per_image)
    captions = noisy_captions(rng, images, index, 4.5)
    other_captions = noisy_captions(rng, images, index, 4.6)  # a slightly worse run
    run_a = ranks(images, captions, index)
    run_b = ranks(images, other_captions, index)

    rows = [
        (
            "tie.joint.retrieval.score (both directions)",
            *measure(lambda: score(images, captions, index)),
        ),
        (
            f"intervals, {args.resamples} resamples",
            *measure(lambda: intervals(*run_a, index, KS, args.resamples, 0)),
        ),
        (
            f"paired comparison, {args.resamples} resamples",
            *measure(lambda: paired(run_a, run_b, index, KS, args.resamples, 0)),
        ),
    ]
    print(
        f"\n{args.images:,} images x {args.captions_per_image} captions"
        f" ({len(index):,} caption queries), d={args.dim}"
    )
    print(f"{'':<42}{'seconds':>9}{'peak MiB':>10}{'x score':>9}")
    for name, seconds, peak, _ in rows:
        print(f"{name:<42}{seconds:>9.2f}{peak:>10.0f}{seconds / rows[0][1]:>9.2f}")
    r1 = rows[0][3]["image_search"]["R_at_1"]
    difference = rows[2][3]["image_search/R_at_1"]
    print(
        f"\n(image search R@1 {r1:.1f}; a - b {difference.difference:+.2f}"
        f" [{difference.low:+.2f}, {difference.high:+.2f}], p {difference.p_value:.3f})"
    )


if __name__ == "__main__":
    main()
