"""Real datasets on miniature archives served by a real HTTP server on 127.0.0.1.

The archives have the real layouts and quirks (see real_fixtures.py); the sources differ
from the real ones only in their checksums and image counts, which are the fixtures'.
"""

import json
import zipfile
from dataclasses import replace

import pytest
from click.testing import CliRunner
from real_fixtures import (
    QUIRK_IMAGE,
    build_coco,
    build_flickr8k,
    build_flickr30k,
    build_karpathy,
    make_images,
    md5,
    write_zip,
)

from tie.corpus.read import check_split
from tie.datasets.kinds import read_published
from tie.datasets.real import REPORT_FILE, prepare_real_dataset
from tie.datasets.sources import (
    COCO_TRAIN2014,
    COCO_VAL2014,
    FLICKR8K_IMAGES,
    FLICKR8K_TEXT,
    KARPATHY_SPLITS,
    SOURCES,
    SOURCES_FILE_ENV,
    sources_for,
)
from tie.errors import TieError
from tie.results.cli import main as tie_cli

FLICKR8K_COUNTS = {"train": 6, "val": 2, "test": 2}  # the real 6,000 / 1,000 / 1,000, scaled


@pytest.fixture
def served(serve, tmp_path):
    """A folder served on 127.0.0.1, every download pointed at it."""
    (tmp_path / "served").mkdir()
    return serve(tmp_path / "served")


def flickr8k_sources(folder, n_images):
    """The real flickr8k sources with the fixture archives' checksums and image count."""
    return replace(
        SOURCES["flickr8k"],
        downloads=(
            replace(FLICKR8K_IMAGES, checksum=md5(folder / FLICKR8K_IMAGES.name)),
            replace(FLICKR8K_TEXT, checksum=md5(folder / FLICKR8K_TEXT.name)),
            KARPATHY_SPLITS,
        ),
        n_images=n_images,
    )


@pytest.fixture
def flickr8k(served):
    fixture = build_flickr8k(served.folder, FLICKR8K_COUNTS)
    build_karpathy(served.folder, {"flickr8k": fixture.images})
    return fixture, flickr8k_sources(served.folder, len(fixture.images) + len(fixture.unlisted))


def prepare(name, sources, tmp_path, max_missing_fraction=0.01):
    raw = tmp_path / "raw" / name
    prepare_real_dataset(name, sources, raw, tmp_path / "downloads", max_missing_fraction)
    return raw


def test_flickr8k_official_split_reads_like_the_real_files(flickr8k, served, tmp_path):
    fixture, sources = flickr8k
    served.cut_after[FLICKR8K_IMAGES.name] = 2000  # an interrupted download, resumed
    raw = prepare("flickr8k", sources, tmp_path)

    assert served.requested(FLICKR8K_IMAGES.name) == [None, "bytes=2000-"]
    extraction = json.loads((raw / REPORT_FILE).read_text())
    assert extraction["images_extracted"] == extraction["expected_images"] == 11
    assert extraction["missing_or_unreadable"] == 0
    assert sorted(p.name for p in (raw / "images").iterdir()) == sorted(
        image.name for image in fixture.images + fixture.unlisted
    )  # no __MACOSX forks

    corpus = read_published("flickr8k", raw, "official")
    assert corpus.counts() == {
        "train": {"images": 6, "captions": 30},
        "val": {"images": 2, "captions": 10},
        "test": {"images": 2, "captions": 10},
    }
    for image in fixture.images:
        position = corpus.images.index(image.name)
        assert corpus.captions[position] == image.captions
        assert corpus.splits[position] == image.split
    report = corpus.report
    assert report["caption_lines"] == 11 * 5 + 4 + 1
    assert report["dropped_lines_missing_image"] == {
        "count": 5,
        "examples": [QUIRK_IMAGE, QUIRK_IMAGE + ".1"],
    }
    unlisted = [image.name for image in fixture.unlisted]
    assert report["images_not_in_splits"] == {"count": 1, "examples": unlisted}  # not a failure
    reported = {"dropped_lines_missing_image", "images_not_in_splits"}
    others = [k for k, v in report.items() if isinstance(v, dict) and k not in reported]
    assert all(report[k]["count"] == 0 for k in others), report


def test_flickr8k_karpathy_split_equals_the_official_one(flickr8k, tmp_path):
    _, sources = flickr8k
    raw = prepare("flickr8k", sources, tmp_path)
    official = read_published("flickr8k", raw, "official")
    karpathy = read_published("flickr8k", raw, "karpathy")
    assert (karpathy.images, karpathy.splits, karpathy.captions) == (
        official.images,
        official.splits,
        official.captions,
    )


def test_official_split_fetches_and_needs_only_the_flickr8k_archives(flickr8k, served, tmp_path):
    _, sources = flickr8k
    raw = tmp_path / "raw"
    prepare_real_dataset("flickr8k", sources, raw, tmp_path / "downloads", 0.01, ("official",))
    assert served.requested(KARPATHY_SPLITS.name) == []
    assert not (raw / "karpathy.json").exists()
    assert read_published("flickr8k", raw, "official").counts()["test"]["images"] == 2

    raw = tmp_path / "raw-karpathy"
    prepare_real_dataset("flickr8k", sources, raw, tmp_path / "downloads", 0.01, ("karpathy",))
    assert served.requested(KARPATHY_SPLITS.name) == [None]
    assert served.requested(FLICKR8K_IMAGES.name) == [None]  # already there
    assert not (raw / "Flickr8k.token.txt").exists()
    assert read_published("flickr8k", raw, "karpathy").counts()["test"]["images"] == 2


def test_present_archives_are_not_fetched_again(flickr8k, served, tmp_path):
    _, sources = flickr8k
    prepare("flickr8k", sources, tmp_path)
    first = list(served.requests)
    assert len(first) == 3
    prepare("flickr8k", sources, tmp_path)
    assert served.requests == first


def test_corrupted_archive_is_rejected_naming_the_file(flickr8k, served, tmp_path):
    _, sources = flickr8k
    archive = served.folder / FLICKR8K_IMAGES.name
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(TieError, match=r"download of Flickr8k_Dataset.zip .* md5 is"):
        prepare("flickr8k", sources, tmp_path)
    assert not (tmp_path / "downloads" / FLICKR8K_IMAGES.name).exists()


def test_damaged_images_are_reported_and_stop_the_stage_above_the_threshold(served, tmp_path):
    images = make_images([(f"{i}.jpg", "train") for i in range(10)])
    truncated, empty = images[3], images[7]
    members = {f"Flicker8k_Dataset/{image.name}": image.jpeg for image in images}
    members[f"Flicker8k_Dataset/{truncated.name}"] = truncated.jpeg[: len(truncated.jpeg) // 2]
    members[f"Flicker8k_Dataset/{empty.name}"] = b""
    write_zip(served.folder / FLICKR8K_IMAGES.name, members)
    build_flickr8k(tmp_path, FLICKR8K_COUNTS)  # any text archive will do
    (served.folder / FLICKR8K_TEXT.name).write_bytes((tmp_path / FLICKR8K_TEXT.name).read_bytes())
    build_karpathy(served.folder, {"flickr8k": images})
    sources = flickr8k_sources(served.folder, n_images=10)

    with pytest.raises(TieError, match=r"2 of 10 expected images are missing or unreadable"):
        prepare("flickr8k", sources, tmp_path, max_missing_fraction=0.1)
    raw = prepare("flickr8k", sources, tmp_path, max_missing_fraction=0.2)
    report = json.loads((raw / REPORT_FILE).read_text())
    assert report["missing_or_unreadable"] == 2
    assert [entry.split(":")[0] for entry in report["unreadable"]] == [truncated.name, empty.name]
    assert "truncated" in report["unreadable"][0] and "empty" in report["unreadable"][1]
    corpus = read_published("flickr8k", raw, "karpathy")
    assert truncated.name not in corpus.images and len(corpus.images) == 8


def test_missing_flickr30k_archive_says_which_file_where_and_where_to_request_it(served, tmp_path):
    downloads = tmp_path / "downloads"
    with pytest.raises(TieError) as error:
        prepare_real_dataset("flickr30k", SOURCES["flickr30k"], tmp_path / "raw", downloads, 0.01)
    message = str(error.value)
    assert str((downloads / "flickr30k-images.tar.gz").resolve()) in message
    assert "https://shannon.cs.illinois.edu/DenotationGraph/" in message
    assert served.requests == []  # stops before downloading anything

    result = CliRunner().invoke(tie_cli, ["data", "fetch", "flickr30k", "--downloads", downloads])
    assert result.exit_code == 1 and "flickr30k-images.tar.gz not found" in result.output


def test_flickr30k_from_a_placed_archive_with_the_karpathy_split(served, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    images = build_flickr30k(downloads, {"train": 5, "val": 2, "test": 3})
    build_karpathy(served.folder, {"flickr30k": images})
    sources = replace(SOURCES["flickr30k"], n_images=10)
    raw = tmp_path / "raw"
    prepare_real_dataset("flickr30k", sources, raw, downloads, 0.01)
    corpus = read_published("flickr30k", raw, "karpathy")
    assert corpus.counts()["test"] == {"images": 3, "captions": 15}
    assert corpus.images == [image.name for image in images]


def test_coco_reads_restval_as_train_and_keeps_five_captions(served, tmp_path):
    images = build_coco(served.folder, {"train": 4, "restval": 3, "val": 2, "test": 10})
    build_karpathy(served.folder, {"coco": images})
    sources = replace(
        SOURCES["coco"],
        downloads=(
            replace(COCO_TRAIN2014, checksum=md5(served.folder / COCO_TRAIN2014.name)),
            replace(COCO_VAL2014, checksum=md5(served.folder / COCO_VAL2014.name)),
            KARPATHY_SPLITS,
        ),
        n_images=19,
    )
    raw = prepare("coco", sources, tmp_path)
    corpus = read_published("coco", raw, "karpathy")
    assert corpus.counts() == {
        "train": {"images": 7, "captions": 35},
        "val": {"images": 2, "captions": 10},
        "test": {"images": 10, "captions": 50},
    }
    assert corpus.report["dropped_captions_beyond_five"]["count"] == 1
    assert corpus.captions[0] == images[0].captions[:5]


def test_split_choice_is_checked_per_dataset():
    check_split("flickr8k", "official")
    check_split("coco", "karpathy")
    with pytest.raises(TieError, match=r"'coco' has no 'official' split; it has: karpathy"):
        check_split("coco", "official")
    with pytest.raises(TieError, match=r"unknown split 'random'.*official, karpathy"):
        check_split("flickr8k", "random")


def test_fetch_command_rejects_a_mirror_serving_other_files(flickr8k, served, tmp_path):
    """`tie data fetch` checks against the real checksums: the fixture archives fail them."""
    downloads = tmp_path / "downloads"
    result = CliRunner().invoke(tie_cli, ["data", "fetch", "flickr8k", "--downloads", downloads])
    assert result.exit_code == 1
    assert "download of Flickr8k_Dataset.zip" in result.output
    assert "expected f18a1e2920de5bd84dae7cf08ec78978" in result.output
    assert list(downloads.iterdir()) == []


def repack(archive, dest, drop=None):
    """The same members in reverse order (other bytes, other md5), without `drop` if given."""
    with zipfile.ZipFile(archive) as source:
        members = {i.filename: source.read(i) for i in source.infolist() if not i.is_dir()}
    kept = {n: data for n, data in reversed(members.items()) if not (drop and n.endswith(drop))}
    write_zip(dest, kept)


def test_accept_local_checks_the_content_of_your_copy_and_records_it(
    flickr8k, served, tmp_path, monkeypatch
):
    fixture, sources = flickr8k
    monkeypatch.setitem(SOURCES, "flickr8k", replace(sources, split_images={"official": 10}))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    repack(served.folder / FLICKR8K_IMAGES.name, downloads / FLICKR8K_IMAGES.name)
    fetch_args = ["data", "fetch", "flickr8k", "--downloads", downloads]

    refused = CliRunner().invoke(tie_cli, fetch_args)
    assert refused.exit_code == 1 and "--accept-local" in refused.output

    accepted = CliRunner().invoke(tie_cli, [*fetch_args, "--accept-local"])
    assert accepted.exit_code == 0, accepted.output
    assert "Flickr8k_Dataset.zip: the published checksum did not match (its md5 is" in (
        accepted.output
    )
    assert "your copy is accepted as sha256:" in accepted.output
    # What was checked, as docs/datasets.md says: every image, the split's caption file.
    assert (
        f"flickr8k: the archives read to their end and hold the {sources.n_images} expected"
        " images, each readable; the official split's caption file gives 10 images, each with"
        " its file (50 captions), as expected"
    ) in accepted.output
    record = json.loads((downloads / "accepted-checksums.json").read_text())
    assert set(record) == {FLICKR8K_IMAGES.name}
    assert served.requested(FLICKR8K_IMAGES.name) == []  # your copy, not the server's

    # Later runs verify against the accepted checksum: the pipeline's data stage proceeds.
    raw = tmp_path / "raw"
    prepare_real_dataset("flickr8k", SOURCES["flickr8k"], raw, downloads, 0.0, ("official",))
    assert len(read_published("flickr8k", raw, "official").images) == 10
    assert served.requested(FLICKR8K_IMAGES.name) == []
    assert served.requested(KARPATHY_SPLITS.name) == []


def test_accept_local_refuses_a_copy_missing_an_image(flickr8k, served, tmp_path, monkeypatch):
    fixture, sources = flickr8k
    monkeypatch.setitem(SOURCES, "flickr8k", replace(sources, split_images={"official": 10}))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    dropped = fixture.images[0].name
    repack(served.folder / FLICKR8K_IMAGES.name, downloads / FLICKR8K_IMAGES.name, drop=dropped)
    result = CliRunner().invoke(
        tie_cli, ["data", "fetch", "flickr8k", "--downloads", downloads, "--accept-local"]
    )
    assert result.exit_code == 1
    assert "your copy of flickr8k cannot be accepted: flickr8k: 1 of 11 expected images" in (
        result.output
    )
    assert not (downloads / "accepted-checksums.json").exists()


def test_sources_file_overrides_checksums_and_image_count(tmp_path, monkeypatch):
    assert sources_for("flickr8k") == SOURCES["flickr8k"]
    overrides = tmp_path / "sources.json"
    overrides.write_text(
        json.dumps(
            {"flickr8k": {"checksums": {FLICKR8K_TEXT.name: "md5:" + "0" * 32}, "n_images": 3}}
        )
    )
    monkeypatch.setenv(SOURCES_FILE_ENV, str(overrides))
    sources = sources_for("flickr8k")
    assert sources.n_images == 3
    assert [d.checksum for d in sources.downloads] == [
        FLICKR8K_IMAGES.checksum,
        "md5:" + "0" * 32,
        KARPATHY_SPLITS.checksum,
    ]
    assert sources_for("coco") == SOURCES["coco"]
    assert SOURCES["flickr8k"].n_images == 8091  # the table itself is unchanged

    overrides.write_text(json.dumps({"coco": {"checksums": {"Flickr8k_text.zip": "md5:0"}}}))
    with pytest.raises(TieError, match="coco has no checksums.Flickr8k_text.zip to override"):
        sources_for("coco")
    overrides.write_text("{not json")
    with pytest.raises(TieError, match=f"{SOURCES_FILE_ENV}=.*not a readable JSON object"):
        sources_for("coco")
