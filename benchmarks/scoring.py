"""What each `eval.scoring` rule costs beside cosine, at COCO 5K's scale.

    python benchmarks/scoring.py                     # 5,000 images, 25,000 captions, 566k bank
    python benchmarks/scoring.py --bank-captions 100000   # a smaller bank, on a slow machine

Random embeddings (d=128) with a planted match (each caption is its image's vector plus
noise); the banks are random train rows of the same kind: `--bank-captions` train captions
(image search's query bank, annotation's gallery bank) and a fifth as many train images
(annotation's query bank, image search's gallery bank), as COCO's 113,287 train images and
566,435 captions. Timed, each alone: both directions of the test split, ranked by cosine
(`tie.joint.retrieval.ranks`) and by each rule with one point of its params
(`tie.evaluation.scoring.hubness_ranks`: the bank statistics, streamed block by block, then
the ranks). Peak memory is the peak of numpy's allocations during each call (tracemalloc),
beyond what was alive before it (the embeddings and banks: listed apart).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from tie.evaluation.scoring import hubness_ranks
from tie.joint.retrieval import ranks

POINTS = {
    "inverted_softmax": {"beta": 20.0},
    "qb_norm": {"beta": 20.0, "activation_k": 1},
    "csls": {"neighbours_k": 10},
    "dual_bank": {"beta": 20.0, "gallery_beta": 3.0},
}


def measure(call):
    """(wall seconds, CPU seconds, peak MiB of new numpy allocations, result) of one call."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, cpu, peak / 2**20, result


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--bank-captions", type=int, default=566_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--memory-budget-mb", type=float, default=256)
    parser.add_argument("--rules", nargs="*", default=list(POINTS), choices=list(POINTS))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = unit(rng.standard_normal((args.images, args.dim)))
    index = np.repeat(np.arange(args.images), args.captions_per_image)
    captions = unit(images[index] + 0.9 * rng.standard_normal((len(index), args.dim)))
    bank_images = unit(rng.standard_normal((args.bank_captions // 5, args.dim)))
    bank_captions = unit(rng.standard_normal((args.bank_captions, args.dim)))
    bank = (bank_images, bank_captions)
    budget = args.memory_budget_mb

    held = sum(a.nbytes for a in (images, captions, *bank)) / 2**20
    print(
        f"\n{args.images:,} test images x {args.captions_per_image} captions"
        f" ({len(index):,} captions); banks: {len(bank_captions):,} train captions,"
        f" {len(bank_images):,} train images; d={args.dim}; eval.memory_budget_mb={budget:g};"
        f" embeddings and banks held: {held:.0f} MiB (float64)"
    )
    print("\n| rule (params) | wall s | CPU s | peak MiB | x cosine CPU | x cosine memory | R@1 |")
    print("|---|---:|---:|---:|---:|---:|---:|", flush=True)
    base = None
    for rule in ["cosine", *args.rules]:
        if rule == "cosine":
            call = lambda: ranks(images, captions, index, budget)  # noqa: E731
        else:
            call = lambda rule=rule: hubness_ranks(  # noqa: E731
                rule, POINTS[rule], images, captions, index, bank, budget * 2**20
            )
        seconds, cpu, peak, (search, annotation) = measure(call)
        base = base or (cpu, peak)
        params = ", ".join(f"{k}={v:g}" for k, v in POINTS.get(rule, {}).items())
        name = f"`{rule}` ({params})" if params else f"`{rule}`"
        recall = f"{100 * np.mean(search <= 1):.1f} / {100 * np.mean(annotation <= 1):.1f}"
        print(
            f"| {name} | {seconds:.1f} | {cpu:.1f} | {peak:.0f} | {cpu / base[0]:.1f}"
            f" | {peak / base[1]:.1f} | {recall} |",
            flush=True,
        )
    print("\nR@1: image search / image annotation (random data: a check, not a result)")


if __name__ == "__main__":
    main()
