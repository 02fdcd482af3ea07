"""Benchmark: the `moments` + `cca` stages against their floor, measured in the same run.

    .venv/bin/python benchmarks/cca_floor.py --dy 18000 --train-images 1000
    .venv/bin/python benchmarks/cca_floor.py --dy 36000 --train-images 400 --old-src ''

Builds the synthetic project of benchmarks/cca_stage_scale.py in --data-dir (never the
repository: 4,096-d image features, compact gmm+hglmm Fisher vectors of width --dy, 5
captions per image, one value of each `cca` param), then runs, each in a subprocess:

- `stages/moments.py` then `stages/cca.py` of this checkout;
- the floor: a bare BLAS syrk of the same number of float64 rows at that width, in the
  stage's blocks of 1,024 rows, into one dy x dy buffer, then one Cholesky factorisation
  (LAPACK dpotrf) of that buffer; both on one BLAS thread above order 15,000 (where a
  threaded syrk crashes with OpenBLAS's AVX-512 kernels: `tie.moments.blas`), the most
  CPU-efficient way, so the CPU ratio is against the strictest floor;
- with --old-src (default /work/main/src), the `cca` stage of that checkout on the same
  files (before the `moments` stage existed: one stage, one pass).

Printed: a table of wall time, CPU time (user + system, from the child's rusage) and peak
RSS (its ru_maxrss) per step, each stage's ratio to the floor, the moments folder's size,
and the time of the stages at COCO's 566,435 train captions extrapolated by flops (the
pass grows with the caption rows, the solve does not): labelled as extrapolated.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))

from cca_stage_scale import CAPTIONS_PER_IMAGE, DX, build  # noqa: E402

COCO_TRAIN_CAPTIONS = 566_435

FLOOR_SCRIPT = """
import sys, time
import numpy as np, scipy.linalg
from tie.moments.blas import safe_threads
from tie.moments.stream import BLOCK_ROWS
rows, dy = int(sys.argv[1]), int(sys.argv[2])
block = np.random.default_rng(0).standard_normal((BLOCK_ROWS, dy))
gram = np.zeros((dy, dy), order="F")
wall, cpu = time.perf_counter(), time.process_time()
for start in range(0, rows, BLOCK_ROWS):
    part = block[: min(BLOCK_ROWS, rows - start)]
    with safe_threads(dy):  # one thread above 15,000, as the stage's Cholesky (AVX-512 crash)
        scipy.linalg.blas.dsyrk(1.0, part.T, beta=1.0, c=gram, lower=1, overwrite_c=1)
syrk = (time.perf_counter() - wall, time.process_time() - cpu)
gram[np.arange(dy), np.arange(dy)] += 1.0  # rows < dy: the ridge makes it definite
wall, cpu = time.perf_counter(), time.process_time()
with safe_threads(dy):
    _, info = scipy.linalg.lapack.dpotrf(gram, lower=1, clean=0, overwrite_a=1)
assert info == 0, info
cholesky = (time.perf_counter() - wall, time.process_time() - cpu)
print("FLOOR", *syrk, *cholesky)
"""


def run_child(command: list[str], cwd: Path, src: Path) -> dict:
    """Run `command`; its wall time, CPU time and peak RSS (from wait4's rusage), and output."""
    env = os.environ | {"PYTHONPATH": str(src)}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    result = {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_gib": usage.ru_maxrss / 2**20,
    }
    print(f"done: {Path(command[1]).name if command[1] != '-c' else 'floor'} {result}", flush=True)
    return result | {"output": output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dy", type=int, default=18_000)
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--val-images", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tie-cca-floor"))
    parser.add_argument("--old-src", default="/work/main/src", help="'' to skip the old stage")
    args = parser.parse_args()
    directory = args.data_dir / f"{args.dy}-{args.train_images}"
    built = build(directory, args.train_images, args.val_images, args.dy)
    dy, rows = built["fv_dim"], args.train_images * CAPTIONS_PER_IMAGE
    python, src = sys.executable, REPO / "src"
    features = ["splits.json", "image.npy", "text.npy"]
    outputs = ["grid.csv", "selection.json"]

    steps = {}
    moments = run_child(
        [python, str(REPO / "stages/moments.py"), *features, "moments"], directory, src
    )
    steps["moments stage"] = moments
    steps["cca stage"] = run_child(
        [python, str(REPO / "stages/cca.py"), *features, "moments", "model", *outputs],
        directory,
        src,
    )
    floor = run_child([python, "-c", FLOOR_SCRIPT, str(rows), str(dy)], directory, src)
    syrk_wall, syrk_cpu, chol_wall, chol_cpu = map(
        float, floor["output"].split("FLOOR")[-1].split()
    )
    old = None
    if args.old_src:
        old_stage = Path(args.old_src).parent / "stages" / "cca.py"
        old = run_child(
            [python, str(old_stage), *features, "old-model", *outputs],
            directory,
            Path(args.old_src),
        )
    floor_wall, floor_cpu = syrk_wall + chol_wall, syrk_cpu + chol_cpu
    both = {
        "wall_s": steps["moments stage"]["wall_s"] + steps["cca stage"]["wall_s"],
        "cpu_s": steps["moments stage"]["cpu_s"] + steps["cca stage"]["cpu_s"],
        "peak_gib": max(steps["moments stage"]["peak_gib"], steps["cca stage"]["peak_gib"]),
    }
    disk = sum(f.stat().st_size for f in (directory / "moments").iterdir())

    print(
        f"\n{rows:,} train captions ({args.train_images:,} images), text {dy:,}-d (compact"
        f" gmm+hglmm FVs, {built['compact_mb']:.0f} MB), images {DX:,}-d; {os.cpu_count()} CPUs,"
        f" load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'step':<34}{'wall s':>9}{'CPU s':>9}{'peak GiB':>10}{'wall/floor':>12}{'CPU/floor':>11}"
    )

    def row(name, wall, cpu, peak=None, ratio=True):
        ratios = f"{wall / floor_wall:>12.2f}{cpu / floor_cpu:>11.2f}" if ratio else ""
        peak_text = f"{peak:>10.2f}" if peak is not None else f"{'':>10}"
        print(f"{name:<34}{wall:>9.1f}{cpu:>9.1f}{peak_text}{ratios}")

    row("floor: syrk (blocks of 1,024 rows)", syrk_wall, syrk_cpu, ratio=False)
    row("floor: one Cholesky", chol_wall, chol_cpu, ratio=False)
    row("floor: total", floor_wall, floor_cpu, floor["peak_gib"])
    for name, step in steps.items():
        row(name, step["wall_s"], step["cpu_s"], step["peak_gib"], ratio=False)
    row("moments + cca (this checkout)", both["wall_s"], both["cpu_s"], both["peak_gib"])
    if old is not None:
        row("cca stage (old checkout)", old["wall_s"], old["cpu_s"], old["peak_gib"])
    print(f"moments folder on disk: {disk / 1e9:.3f} GB")

    # By flops: the pass (the moments stage) grows with the caption rows; the solve doesn't.
    scale = COCO_TRAIN_CAPTIONS / rows
    print(f"\nextrapolated to COCO's {COCO_TRAIN_CAPTIONS:,} train captions (by flops, not run):")
    for name, pass_s, solve_s in (
        ("floor", syrk_cpu, chol_cpu),
        ("moments + cca", steps["moments stage"]["cpu_s"], steps["cca stage"]["cpu_s"]),
    ):
        print(f"  {name}: ~{(pass_s * scale + solve_s) / 3600:.2f} h of CPU")


if __name__ == "__main__":
    main()
