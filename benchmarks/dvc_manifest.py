"""Benchmark: DVC's no-op cost with stages depending on an images folder or on its manifest.

    .venv/bin/python benchmarks/dvc_manifest.py --images 30000

A throwaway DVC project in --data-dir (never the repository) with the pipeline's shape: a
`data` stage writing N small image files (and the manifest, `tie.datasets.manifest`), then
`image_features` depending on the images folder, and `splits` and `evaluate` depending
either on the whole raw folder (`folder`, as before) or on its manifest (`manifest`, as
now). After one `dvc repro`, the no-op `dvc status` and `dvc repro` are timed (best of
--rounds) for both layouts: the difference is the walks of the folder that the manifest
saves (each a stat of every file, with DVC's state database avoiding the re-hash).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

DATA_SCRIPT = """
import sys
from pathlib import Path
from tie.datasets.manifest import write_manifest
raw = Path("raw")
(raw / "images").mkdir(parents=True, exist_ok=True)
for i in range(int(sys.argv[1])):
    (raw / "images" / f"{i:07d}.jpg").write_bytes(i.to_bytes(8, "little") * 512)
(raw / "captions.txt").write_text("captions\\n")
write_manifest(raw)
"""


def project(root: Path, n_images: int, layout: str) -> Path:
    root.mkdir(parents=True)
    (root / "make_data.py").write_text(DATA_SCRIPT)
    listing = "raw/manifest.json" if layout == "manifest" else "raw"
    stages = {
        "data": {
            "cmd": f"python make_data.py {n_images}",
            "deps": ["make_data.py"],
            "outs": ["raw"],
        },
        "splits": {"cmd": "echo splits > splits.txt", "deps": [listing], "outs": ["splits.txt"]},
        "image_features": {
            "cmd": "echo features > features.txt",
            "deps": ["raw/images", "splits.txt"],
            "outs": ["features.txt"],
        },
        "evaluate": {
            "cmd": "echo metrics > metrics.txt",
            "deps": [listing, "features.txt"],
            "outs": ["metrics.txt"],
        },
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    return root


def best_of(command: list[str], cwd: Path, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tie-dvc-manifest"))
    args = parser.parse_args()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    os.environ |= {"DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "true"}
    print(f"{args.images:,} images; best of {args.rounds}")
    print("| splits and evaluate depend on | no-op `dvc status` | no-op `dvc repro` |")
    print("|---|---|---|")
    for layout in ("folder", "manifest"):
        root = project(args.data_dir / layout, args.images, layout)
        status = best_of(["dvc", "status"], root, args.rounds)
        repro = best_of(["dvc", "repro"], root, args.rounds)
        print(f"| {layout} | {status:.1f} s | {repro:.1f} s |")


if __name__ == "__main__":
    main()
