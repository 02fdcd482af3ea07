"""WebDataset collections: image-caption pairs in tar shards, as img2dataset writes them.

A shard is a tar file whose members are grouped by key: `<key>.jpg` (or .jpeg, .png,
.webp), `<key>.txt` (the caption; another member with `webdataset.caption_field`) and
`<key>.json` (metadata, not read). Shards are named by a brace pattern, e.g.
`data/cc3m/{00000..00331}.tar`, on local disk or on S3 (`s3://bucket/cc3m/{0000..0099}.tar`,
read through fsspec/s3fs; `AWS_ENDPOINT_URL` for an S3-compatible server).

Nothing is extracted: stage `data` (`tie.datasets.webdataset`) streams each shard once
and writes an index of the good samples (key, shard, byte offset and size of the image,
caption) and a report that counts and names every bad one (image missing or undecodable,
caption missing or empty, key repeated). Encoders later read each image's bytes straight
from its shard
(`TarMember`: a seek and a read, or an HTTP range request on S3).

Protocol: a fixed held-out test subset. Samples are ranked by SHA-256 of
`<seed>:<key>`; the first `test_size` (default 5,000, as COCO 5K) are the test split,
the next `val_size` the val split (for choosing the CCA params), the rest train. The
split depends on the keys and the seed only, not on shard order or file names.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from tie.errors import TieError, shorten

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
INDEX_FILE = "images/samples.jsonl"  # the images folder, the image_features stage's dep
REPORT_FILE = "report.json"


def open_url(url: str, offset: int = 0):
    """A binary file object on a local path or an `s3://` (any fsspec) URL."""
    if "://" in url:
        import fsspec

        f = fsspec.open(url, "rb").open()
    else:
        f = open(url, "rb")
    if offset:
        f.seek(offset)
    return f


@dataclass(frozen=True)
class TarMember:
    """One image inside a shard: read by offset and size, never extracted to a file."""

    url: str
    offset: int
    size: int

    @property
    def name(self) -> str:
        return f"{self.url}@{self.offset}"

    def read_bytes(self) -> bytes:
        with open_url(self.url, self.offset) as f:
            return f.read(self.size)

    def open(self, mode: str = "rb"):
        return io.BytesIO(self.read_bytes())

    def __str__(self) -> str:
        return self.name


def records(raw_dir: Path) -> list[dict]:
    """The index's samples (key, shard url, offset, size, caption), in index order."""
    index = Path(raw_dir) / INDEX_FILE
    if not index.exists():
        raise TieError(f"{index} does not exist: run `dvc repro data` first")
    with open(index) as f:
        return [json.loads(line) for line in f]


def image_sources(raw_dir: Path, keys: list[str]) -> list[TarMember]:
    """The image of each key, in that order, as a `TarMember` of its shard.

    Each shard these images are in is read once and its SHA-256 compared with the one
    the data stage recorded when it indexed it: a shard rewritten since (same name,
    even the same members and offsets) would pair captions with other images.
    """
    by_key = {r["key"]: r for r in records(raw_dir)}
    missing = [key for key in keys if key not in by_key]
    if missing:
        index = Path(raw_dir) / INDEX_FILE
        raise TieError(
            f"image list entry {shorten(missing[0])} is not in the index {index}: run"
            " `dvc repro -f splits`"
        )
    recorded = json.loads((Path(raw_dir) / REPORT_FILE).read_text()).get("shard_sha256", {})
    for url in sorted({by_key[key]["url"] for key in keys}):
        check_shard(url, recorded.get(url))
    members = []
    for key in keys:
        r = by_key[key]
        url = r["url"] if "://" in r["url"] else str(Path(r["url"]).resolve())
        members.append(TarMember(url, r["offset"], r["size"]))
    return members


def check_shard(url: str, sha256: str | None) -> None:
    """Refuse shard `url` unless its content has SHA-256 `sha256` (as indexed)."""
    try:
        with open_url(url) as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as error:
        raise TieError(f"webdataset shard {url} cannot be read ({error}): is it there?") from None
    if digest != sha256:
        raise TieError(
            f"webdataset shard {url} changed since the data stage indexed it (SHA-256"
            f" {digest[:12]}..., indexed {str(sha256)[:12]}...): its images would not match"
            " their captions; index it again: `dvc repro -f data`"
        )
