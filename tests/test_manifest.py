"""The raw folder's manifest: `splits` and `evaluate` depend on it, not on the folder."""

import hashlib
import json

import pytest
import yaml
from helpers import new_project, run
from test_custom_dataset import build_folder

from tie.datasets.demo import make_demo_example
from tie.datasets.manifest import MANIFEST_NAME, write_manifest


def test_the_manifest_lists_every_file_with_its_size_and_md5(tmp_path):
    (tmp_path / "images" / "sub").mkdir(parents=True)
    (tmp_path / "images" / "b.png").write_bytes(b"bb")
    (tmp_path / "images" / "sub" / "a.png").write_bytes(b"a")
    (tmp_path / "captions.txt").write_text("x\n")
    write_manifest(tmp_path)
    write_manifest(tmp_path)  # the manifest never lists itself

    files = json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]

    assert files == [
        ["captions.txt", 2, hashlib.md5(b"x\n").hexdigest()],
        ["images/b.png", 2, hashlib.md5(b"bb").hexdigest()],
        ["images/sub/a.png", 1, hashlib.md5(b"a").hexdigest()],
    ]


@pytest.mark.e2e
def test_splits_re_run_when_an_image_is_added_or_changed_and_not_otherwise(tmp_path):
    images, captions = build_folder(tmp_path / "mine")
    params = {"dataset": "custom", "text": "glove", "image": "colorgrid"}
    params["custom"] = {"images": str(images), "captions": str(captions)}
    root = new_project(tmp_path / "project", params, commit=False)
    run(["dvc", "repro", "splits"], root)
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    deps = {dep["path"] for dep in lock["splits"]["deps"]}
    assert "data/raw/custom/manifest.json" in deps and "data/raw/custom" not in deps

    # The data stage run again, writing the same files: splits has nothing to do.
    run(["dvc", "repro", "-f", "-s", "data"], root)
    _, out = run(["dvc", "repro", "splits"], root)
    assert "Stage 'splits' didn't change, skipping" in out

    # An image of the folder changed (same name): data and splits run again.
    make_demo_example(9, 99, 64).image.save(images / "img002.png")
    _, out = run(["dvc", "repro", "splits"], root)
    assert "Running stage 'data'" in out and "Running stage 'splits'" in out

    # A new image with its caption: again.
    make_demo_example(9, 100, 64).image.save(images / "new.png")
    with captions.open("a") as stream:
        stream.write(json.dumps({"image": "new.png", "caption": "a new one", "split": "train"}))
    _, out = run(["dvc", "repro", "splits"], root)
    assert "Running stage 'splits'" in out
    corpus = json.loads((root / "data/splits/custom.json").read_text())
    assert "new.png" in {record["image"] for record in corpus["images"]}

    # Nothing changed: nothing runs.
    _, out = run(["dvc", "repro", "splits"], root)
    assert "Running stage" not in out
