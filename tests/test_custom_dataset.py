"""`dataset: custom`: your own folder of images and captions file, read and run end to end."""

import csv
import json
import re

import pytest
import yaml
from helpers import REPO, new_project, run, stage_params

from tie.corpus.flickr8k import format_report
from tie.datasets.custom import copy_custom, write_example
from tie.datasets.demo import make_demo_example
from tie.datasets.kinds import dataset_kind
from tie.errors import TieError
from tie.raw.captions_file import hash_split, split_counts

SPLITS = {"train": 40, "val": 8, "test": 12}
CUSTOM = {"val_fraction": 0.1, "test_fraction": 0.1, "split_seed": 0, "same_picture": "one_split"}


def build_folder(folder):
    """Images of the demo generator with 1 to 5 captions each, in JSON Lines, plus quirks:
    a row for an image with no file, an empty caption, a repeated caption, a file that is
    not an image."""
    images = folder / "photos"
    (images / "holiday").mkdir(parents=True)
    rows = []
    index = 0
    for split, count in SPLITS.items():
        for _ in range(count):
            example = make_demo_example(7, index, 64)
            name = f"holiday/img{index:03d}.jpg" if index % 7 == 0 else f"img{index:03d}.png"
            example.image.save(images / name)
            for caption in example.captions[: 1 + index % 5]:
                rows.append({"image": name, "caption": caption, "split": split})
            index += 1
    rows.append({"image": "gone.png", "caption": "a red circle", "split": "train"})
    rows.append({"image": "img001.png", "caption": "  ", "split": "train"})
    rows.append(dict(rows[0]))  # the same caption of the same image again
    (images / "notes.png").write_text("not an image")
    rows.append({"image": "notes.png", "caption": "a blue square", "split": "train"})
    captions = folder / "captions.jsonl"
    captions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return images, captions


def test_jsonl_with_splits_is_read_with_every_problem_named(tmp_path):
    images, captions = build_folder(tmp_path)
    report = copy_custom(images, captions, tmp_path / "raw")
    assert report["missing"] == ["gone.png"]
    assert [entry.split(":")[0] for entry in report["unreadable"]] == ["notes.png"]
    corpus = dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=CUSTOM))
    assert {s: n["images"] for s, n in corpus.counts().items()} == SPLITS
    assert "holiday/img000.jpg" in corpus.images  # a path inside the folder is the id
    assert len(corpus.captions[corpus.images.index("img004.png")]) == 5
    assert len(corpus.captions[corpus.images.index("img005.png")]) == 1
    problems = corpus.report
    assert problems["dropped_lines_missing_image"]["examples"] == [
        "gone.png",
        "notes.png (unreadable)",
    ]
    assert problems["dropped_lines_empty_caption"]["count"] == 1
    assert problems["dropped_lines_duplicate"]["count"] == 1
    text = format_report(problems | {"caption_lines": 1, "captions_kept": 1, "images_kept": 1})
    assert "  1 caption line dropped as a repeat of an earlier (image, k): " in text
    assert "  1 caption line dropped because the caption is empty: " in text


def test_csv_and_karpathy_json_without_split_use_the_seeded_hash(tmp_path):
    write_example(tmp_path / "example", n_images=60)
    raw = tmp_path / "raw"
    copy_custom(tmp_path / "example/images", tmp_path / "example/captions.csv", raw)
    corpus = dataset_kind("custom").read(raw, stage_params(custom=CUSTOM))
    assert len(corpus.images) == 60
    for image, split in zip(corpus.images, corpus.splits, strict=True):
        assert split == hash_split(image, 0, 0.1, 0.1)
    counts = {s: n["images"] for s, n in corpus.counts().items()}
    assert counts["train"] > counts["val"] > 0 and counts["test"] > 0

    with (tmp_path / "example/captions.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    entries = {}
    for row in rows:
        entries.setdefault(row["image"], []).append({"raw": row["caption"]})
    karpathy = {"images": [{"filename": n, "sentences": s} for n, s in entries.items()]}
    (tmp_path / "karpathy.json").write_text(json.dumps(karpathy))
    copy_custom(tmp_path / "example/images", tmp_path / "karpathy.json", raw)
    again = dataset_kind("custom").read(raw, stage_params(custom=CUSTOM))
    assert (again.images, again.splits, again.captions) == (
        corpus.images,
        corpus.splits,
        corpus.captions,
    )
    other_seed = dataset_kind("custom").read(raw, stage_params(custom=CUSTOM | {"split_seed": 1}))
    assert other_seed.splits != corpus.splits


def test_bad_captions_files_are_named(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    bad_header = tmp_path / "captions.csv"
    bad_header.write_text("file,text\na.png,a cat\n")
    with pytest.raises(TieError, match=r"header row must name the columns image and caption"):
        copy_custom(images, bad_header, tmp_path / "raw")
    with pytest.raises(TieError, match=r"unknown format '.txt'"):
        copy_custom(images, tmp_path / "captions.txt", tmp_path / "raw")
    make_demo_example(0, 0, 32).image.save(images / "a.png")
    make_demo_example(0, 1, 32).image.save(images / "b.png")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("image,caption,split\na.png,a cat,train\nb.png,a dog,\n")
    copy_custom(images, mixed, tmp_path / "raw")
    with pytest.raises(TieError, match=r"some rows give a split and others not \(e.g. b.png\)"):
        dataset_kind("custom").read(tmp_path / "raw", stage_params(custom=CUSTOM))


@pytest.mark.e2e
def test_pipeline_runs_end_to_end_on_your_own_folder(tmp_path):
    folder = tmp_path / "mine"
    images, captions = build_folder(folder)
    params = {"dataset": "custom", "text": "glove", "image": "colorgrid"}
    params["custom"] = {"images": str(images), "captions": str(captions)}
    params["cca"] = {"n_components": 40}  # as many as the train images: degenerate, and said
    root = new_project(tmp_path / "project", params, commit=False)
    _, output = run(["dvc", "repro"], root)

    assert "Warning: cca.n_components = 40 is not below the number of train images (40)" in output

    assert "60 of the 62 images named by custom.captions copied; 1 missing, 1 unreadable" in output
    assert "1 caption line dropped because the caption is empty" in output
    assert (
        "2 caption lines dropped because their image file is missing or unreadable:"
        " gone.png, notes.png (unreadable)" in output
    )
    metrics = json.loads((root / "metrics/retrieval.json").read_text())
    assert 0 <= metrics["image_search"]["R_at_1"] <= metrics["image_search"]["R_at_10"] <= 100
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    data_deps = {dep["path"] for dep in lock["stages"]["data"]["deps"]}
    assert {str(images), str(captions)} <= data_deps  # DVC tracks your files

    # A new caption in your file runs the pipeline again, from the data stage on.
    with captions.open("a") as stream:
        stream.write(json.dumps({"image": "img002.png", "caption": "one more", "split": "val"}))
    _, output = run(["dvc", "status"], root)
    assert "data" in output and "modified" in output


def check_params(params):
    """params.yaml's checks, then what only the custom files tell (as `tie check` and the
    splits stage check them)."""
    from tie.config.params import checked_params

    checked = checked_params(params)
    dataset_kind(checked.dataset).check_files(checked)


def test_params_check_counts_the_test_images_of_your_folder(tmp_path):
    from tie.config.params import read_params

    images, captions = build_folder(tmp_path)
    params = read_params(REPO / "params.yaml")
    params |= {"dataset": "custom"}
    params["custom"] = params["custom"] | {"images": str(images), "captions": str(captions)}
    params["eval"] = params["eval"] | {"ks": [1, 5, 12]}
    check_params(params)  # 12 test images
    params["eval"]["ks"] = [1, 5, 13]
    with pytest.raises(TieError, match=r"eval.ks = \[1, 5, 13\]: every K must be at most 12"):
        check_params(params)


def write_photos(folder, n_images):
    """`n_images` demo scenes named as a camera or a user might (photo001.png ...), 1 to 5
    captions each, no split column: the layout of the docs' example."""
    (folder / "images").mkdir(parents=True)
    with (folder / "captions.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["image", "caption"])
        for index in range(n_images):
            example = make_demo_example(3, index, 64)
            name = f"photo{index + 1:03d}.png"
            example.image.save(folder / "images" / name)
            writer.writerows([name, caption] for caption in example.captions[: 1 + index % 5])
    return folder / "images", folder / "captions.csv"


def test_too_few_test_images_say_which_fraction_or_ks_would_do(tmp_path):
    from tie.config.params import checked_params, read_params

    images, captions = write_photos(tmp_path, 100)
    params = read_params(REPO / "params.yaml") | {"dataset": "custom"}
    params["custom"] = params["custom"] | {"images": str(images), "captions": str(captions)}
    params["eval"] = params["eval"] | {"ks": [1, 5, 10]}
    assert split_counts(**params["custom"])["test"] == 9  # a tenth of 100, by the hash
    checked_params(params)  # params.yaml's schema reads no data file: the stage that reads it tells
    with pytest.raises(TieError) as error:
        check_params(params)
    assert str(error.value) == (
        f"params.yaml: eval.ks = [1, 5, 10]: every K must be at most 9, the number of test"
        f" images (custom.captions {captions}); lower eval.ks to [1, 5] or raise"
        " custom.test_fraction to 0.11 (10 test images)"
    )
    # Both settings it names work, and the fraction is the smallest (in steps of 0.01).
    check_params(params | {"eval": params["eval"] | {"ks": [1, 5]}})
    check_params(params | {"custom": params["custom"] | {"test_fraction": 0.11}})

    params["eval"] = params["eval"] | {"split": "val", "ks": [1, 20]}
    with pytest.raises(TieError, match=r"raise custom.val_fraction to 0.22 \(20 val images\)"):
        check_params(params)
    check_params(params | {"custom": params["custom"] | {"val_fraction": 0.22}})
    assert split_counts(**params["custom"] | {"val_fraction": 0.21})["val"] < 20


def custom_example_commands():
    """The commands of the docs' `dataset: custom` example, continued lines joined."""
    text = (REPO / "docs/datasets.md").read_text()
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "dataset=custom" in b]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.e2e
def test_the_documented_example_runs_as_printed_on_a_folder_of_100_images(tmp_path):
    home = tmp_path / "home"
    write_photos(home / "my-photos", 100)
    root = new_project(tmp_path / "project")

    for command in custom_example_commands():
        _, output = run(["bash", "-c", command], root, env={"HOME": str(home)})

    assert "CCA on 76 train images" in output and "not below" not in output
    metrics = json.loads((root / "metrics/retrieval.json").read_text())
    assert metrics["image_search"]["R_at_10"] >= metrics["image_search"]["R_at_1"] >= 0
