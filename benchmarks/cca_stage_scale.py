"""Benchmark: the `moments` + `cca` stages at Klein et al.'s 18,000-d GMM+HGLMM, compact FVs.

    .venv/bin/python benchmarks/cca_stage_scale.py                   # 18,000-d, ~5 min, ~9 GB
    .venv/bin/python benchmarks/cca_stage_scale.py --dy 6000 --train-images 1000 2000

Builds a synthetic project in --data-dir (never the repository): a corpus of
--train-images train and --val-images val images with 5 captions of 10 words each, 4,096-d
float32 image features, and the caption features as compact Fisher vectors
(`fisher.store: codes`: gmm+hglmm over random 50-d word vectors, K = dy / 200, so
2 K D x 2 mixtures = dy), then runs `stages/moments.py` and `stages/cca.py` in subprocesses,
sampling their /proc/<pid>/status every 0.2 s. Printed: the compact file's size beside the
dense one's, the stages' wall time, its peak RSS with anonymous and file-backed memory apart, the
peak the docs' formula predicts (docs/fisher.md, "Cost and memory"), and the float64
floor (the three covariances, each side's factored in place: what any exact CCA holds).

The stage runs at two numbers of train images (--train-images): the covariance pass grows
linearly with the caption rows and nothing else does, so the difference gives its time
per caption, from which the stage's time at Flickr30k's and COCO's train captions is
extrapolated (printed as such: an estimate, not a measurement). The memory is measured at
both sizes: it should not grow.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from tie.corpus.corpus import Corpus
from tie.features.fisher_rows import save_codes
from tie.features.store import save_features
from tie.text.fisher_vectors import FisherVectors, FisherWordCodes, caption_words

REPO = Path(__file__).resolve().parents[1]
DX, WORD_DIM, VOCABULARY, WORDS_PER_CAPTION, CAPTIONS_PER_IMAGE = 4096, 50, 2000, 10, 5
BLOCK_ROWS, CHUNK_BYTES = 1024, 16 * 2**20  # tie.moments.stream's


def build(directory: Path, n_train: int, n_val: int, dy: int) -> dict:
    """The project's files; returns the sizes and the build time."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_images = n_train + n_val
    images = [f"{i:07d}.jpg" for i in range(n_images)]
    captions = [["w"] * CAPTIONS_PER_IMAGE for _ in images]
    corpus = Corpus("demo", images, ["train"] * n_train + ["val"] * n_val, captions)
    corpus.save(directory / "splits.json")
    save_features(directory / "image.npy", rng.standard_normal((n_images, DX), np.float32), images)

    started = time.perf_counter()
    vectors = rng.standard_normal((VOCABULARY, WORD_DIM))
    k = dy // (4 * WORD_DIM)
    fisher = FisherVectors(mixture="gmm+hglmm", n_components=k, max_iter=5, seed=0)
    fisher.fit(vectors)
    n_captions = n_images * CAPTIONS_PER_IMAGE
    token_rows = rng.integers(0, VOCABULARY, size=(n_captions, WORDS_PER_CAPTION)).tolist()
    matrix, words = caption_words(token_rows, vectors)
    codes = FisherWordCodes(fisher, words).codes
    save_codes(directory / "text.npy", matrix, codes, fisher.part, True)
    (directory / "text.ids.txt").write_text("".join(f"{i}\n" for i in corpus.caption_ids))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cca"] |= {"n_components": 128, "reg": 1e-3, "scale_power": 4.0}
    (directory / "params.yaml").write_text(yaml.safe_dump(params))
    return {
        "fv_dim": fisher.n_features_out,
        "compact_mb": (directory / "text.npy").stat().st_size / 1e6,
        "dense_mb": n_captions * fisher.n_features_out * 4 / 1e6,
        "build_s": time.perf_counter() - started,
    }


def status_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def run_stage(directory: Path) -> dict:
    """The `moments` stage, then `cca`: their summed wall time, the larger of their peaks."""
    features = ["splits.json", "image.npy", "text.npy", "moments"]
    total = {"wall_s": 0.0, "RssAnon": 0, "RssFile": 0, "VmHWM": 0, "output": ""}
    for stage, args in (
        ("moments", features),
        ("cca", [*features, "model", "grid.csv", "selection.json"]),
    ):
        result = run_one(directory, stage, args)
        total["wall_s"] += result.pop("wall_s")
        total["output"] += result.pop("output")
        for name, value in result.items():
            total[name] = max(total[name], value)
    return total


def run_one(directory: Path, stage: str, args: list[str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "stages" / f"{stage}.py"), *args],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    while process.poll() is None:
        try:
            for name, value in status_kb(process.pid).items():
                if name in peak:
                    peak[name] = max(peak[name], value)
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    output = process.communicate()[0]
    if process.returncode:
        raise SystemExit(f"the {stage} stage failed:\n{output[-3000:]}")
    return {"wall_s": time.perf_counter() - started, **peak, "output": output}


def formula_gb(dy: int, n_val_images: int, compact_mb: float, k: int = 128) -> dict:
    """docs/fisher.md's terms, in GB."""
    dx, b = DX, BLOCK_ROWS
    covariances = 8 * (dx * dx + dy * dy + dx * dy)
    stream = max(CHUNK_BYTES, 4 * b * dy) + 8 * b * (2 * dy + dx)
    # The cca stage: one buffer per side (the covariance read in, factored in place), Cxy
    # and its whitened copy, and the val split's rows and embeddings.
    fit = 8 * (dx * dx + dy * dy) + 16 * dx * dy
    val = 4 * dx * n_val_images + 8 * k * n_val_images * (1 + CAPTIONS_PER_IMAGE) + 28 * b * dy
    return {
        "pass": (covariances + stream) / 1e9,
        "fit": (fit + val) / 1e9 + compact_mb / 1e3,
        "floor": covariances / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dy", type=int, default=18_000)
    parser.add_argument("--train-images", type=int, nargs=2, default=[400, 800])
    parser.add_argument("--val-images", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tie-cca-stage-scale"))
    args = parser.parse_args()
    measured = []
    for n_train in args.train_images:
        built = build(args.data_dir / str(n_train), n_train, args.val_images, args.dy)
        result = run_stage(args.data_dir / str(n_train))
        predicted = formula_gb(built["fv_dim"], args.val_images, built["compact_mb"])
        n_captions = n_train * CAPTIONS_PER_IMAGE
        measured.append((n_captions, result["wall_s"]))
        print(f"\n{n_captions} train captions, FV dim {built['fv_dim']}, dx {DX}")
        print(
            f"  compact FV file {built['compact_mb']:.1f} MB (dense: {built['dense_mb']:.0f} MB);"
            f" built in {built['build_s']:.1f} s"
        )
        print(f"  moments + cca stages: {result['wall_s']:.1f} s wall")
        print(
            f"  peak RSS {result['VmHWM'] / 2**20:.2f} GiB (sampled peaks: anonymous"
            f" {result['RssAnon'] / 2**20:.2f} GiB, file-backed"
            f" {result['RssFile'] / 2**20:.2f} GiB)"
        )
        print(
            f"  formula: covariance pass {predicted['pass']:.2f} GB, fit"
            f" {predicted['fit']:.2f} GB, + the interpreter and libraries (~0.2 GB);"
            f" float64 floor {predicted['floor']:.2f} GB;"
            f" peak / floor {result['VmHWM'] * 1024 / 1e9 / predicted['floor']:.2f}"
        )
    (n0, t0), (n1, t1) = measured
    per_caption = (t1 - t0) / (n1 - n0)
    if per_caption <= 0:  # the larger run was the faster: the machine's load changed
        print("\nno extrapolation: the larger size ran faster (the load varied); run again")
        return
    print(f"\nwall time per train caption (the covariance pass): {per_caption * 1e3:.2f} ms")
    for name, captions in (("Flickr30k", 145_000), ("COCO", 566_435)):
        estimate = t1 + per_caption * (captions - n1)
        print(f"  {name} ({captions:,} train captions): ~{estimate / 3600:.1f} h (extrapolated)")


if __name__ == "__main__":
    main()
