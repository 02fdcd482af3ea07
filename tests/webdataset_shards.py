"""Small WebDataset collections for tests, written as img2dataset writes them.

Each sample is `<key>.jpg`, `<key>.txt` (the caption) and `<key>.json` (metadata),
consecutive in an uncompressed tar. The images and captions are the demo's (one caption
per image). Two samples are bad on purpose: `CORRUPT_KEY` (its JPEG does not decode)
and `EMPTY_CAPTION_KEY` (a caption of blanks).
"""

import io
import json
import tarfile
from pathlib import Path

from helpers import new_project, run

from tie.datasets.demo import make_demo_example

CORRUPT_KEY = "000000007"
EMPTY_CAPTION_KEY = "000000023"
N_SAMPLES, PER_SHARD = 64, 40
SHARDS = "shards/{00000..00001}.tar"
SECTION = {"shards": SHARDS, "caption_field": "txt", "test_size": 10, "val_size": 10, "seed": 0}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shards(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard, start in enumerate(range(0, N_SAMPLES, PER_SHARD)):
        path = folder / f"{shard:05d}.tar"
        with tarfile.open(path, "w") as tar:
            for index in range(start, min(start + PER_SHARD, N_SAMPLES)):
                key = f"{index:09d}"
                example = make_demo_example(0, index, 64)
                jpeg = io.BytesIO()
                example.image.save(jpeg, format="JPEG", quality=90)
                image = b"\xff\xd8 not a JPEG" if key == CORRUPT_KEY else jpeg.getvalue()
                caption = "  " if key == EMPTY_CAPTION_KEY else example.captions[0]
                _add(tar, f"{key}.jpg", image)
                _add(tar, f"{key}.txt", caption.encode())
                _add(tar, f"{key}.json", json.dumps({"key": key, "status": "success"}).encode())
        paths.append(path)
    return paths


def make_webdataset_project(root: Path, env=None) -> tuple[Path, str]:
    """A copy of the repo choosing the test collection, and the output of its `dvc repro`."""
    params = {"dataset": "webdataset", "text": "glove", "image": "colorgrid"}
    params |= {"webdataset": SECTION, "cca": {"n_components": 8, "reg": 0.01}}
    new_project(root, params, commit=False)
    write_shards(root / "shards")
    _, output = run(["dvc", "repro"], root, env=env)
    return root, output
