"""Indexing a WebDataset collection (stage `data`): each shard streamed once, nothing extracted.

The index and report it writes, and how images are read back from their shards, are
`tie.raw.webdataset`'s.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from tie.config.schema import MAX_SHARDS, Webdataset, shard_count
from tie.errors import TieError, shorten
from tie.raw.names import name_problem
from tie.raw.webdataset import IMAGE_EXTENSIONS, INDEX_FILE, REPORT_FILE, open_url

_BRACES = re.compile(r"\{([^{}]*)\}")
END_OF_ARCHIVE = 1024  # two zero blocks of 512 bytes end every tar


def expand_braces(pattern: str) -> list[str]:
    """`a/{000..002}.tar` -> a/000.tar, a/001.tar, a/002.tar; `{x,y}` lists alternatives.

    Numeric ranges keep the width of their first bound (zero padding), as img2dataset
    names its shards. A pattern of more than `MAX_SHARDS` names is refused before any
    name is made.
    """
    n = shard_count(pattern)
    if n > MAX_SHARDS:
        raise TieError(
            f"webdataset.shards {shorten(pattern)}: {n} shard names, more than {MAX_SHARDS};"
            " check the brace ranges"
        )
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        first, last = numeric.groups()
        if int(last) < int(first):
            raise TieError(f"webdataset.shards: empty range {{{body}}} in {pattern!r}")
        options = [f"{k:0{len(first)}d}" for k in range(int(first), int(last) + 1)]
    else:
        options = body.split(",")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [url for option in options for url in expand_braces(head + option + tail)]


class _HashingReader:
    """A file object that hashes what is read through it: one pass reads and digests."""

    def __init__(self, f):
        self.f, self.digest = f, hashlib.sha256()

    def read(self, size=-1):
        data = self.f.read(size)
        self.digest.update(data)
        return data

    def finish(self) -> str:
        while self.read(2**20):
            pass
        return self.digest.hexdigest()


def iter_samples(url: str, digests: dict | None = None) -> Iterator[tuple[str, dict, dict]]:
    """Stream a shard: `(key, members by extension, small members' bytes)` per sample.

    Members of one sample are consecutive in the tar (img2dataset writes them so). Image
    bytes are not kept (`TarInfo.offset_data` locates them), only whether they decode;
    the others are read. With `digests`, the shard's SHA-256 is stored there at the end.

    A tar ends with two zero blocks; Python's `tarfile` also stops, silently, at the end
    of the data or at a damaged header. So the end is checked: a shard cut at a member
    boundary (or damaged between members) is refused, not read as a shorter shard.
    """
    try:
        raw = open_url(url)
    except OSError as error:  # e.g. S3's PermissionError: Forbidden for a wrong secret
        cause = (str(error).splitlines() or [""])[0][:200]
        raise TieError(
            f"webdataset shard {url} cannot be opened: {type(error).__name__}: {cause} (for"
            " S3: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL)"
        ) from None
    with raw:
        f = _HashingReader(raw)
        try:
            tar = tarfile.open(fileobj=f, mode="r|")
            yield from _samples(tar)
        except tarfile.ReadError as error:
            raise TieError(
                f"webdataset shard {url} is cut or not an uncompressed tar ({error}): images"
                " are read by offset, so shards must be whole, plain .tar files (as"
                " img2dataset writes them)"
            ) from None
        end = tar.offset
        digest = f.finish()
    with open_url(url, end) as tail:
        if tail.read(END_OF_ARCHIVE) != bytes(END_OF_ARCHIVE):
            raise TieError(
                f"webdataset shard {url} has no end-of-archive after byte {end}: it is cut or"
                " damaged there (an interrupted copy?); copy or write it again"
            )
    if digests is not None:
        digests[url] = digest


def _samples(tar):
    with tar:
        key, members, data = None, {}, {}
        for info in tar:
            if not info.isfile():
                continue
            stem, _, extension = Path(info.name).name.partition(".")
            member_key = str(Path(info.name).parent / stem)
            if member_key != key and key is not None:
                yield key, members, data
                members, data = {}, {}
            key = member_key
            members[extension.lower()] = info
            if extension.lower() not in IMAGE_EXTENSIONS:
                data[extension.lower()] = tar.extractfile(info).read()
            else:  # decoded here once, to name undecodable images in the report
                data[extension.lower()] = _decodable(tar.extractfile(info).read())
        if key is not None:
            yield key, members, data


def _decodable(image_bytes: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            image.load()
        return True
    except (OSError, Image.DecompressionBombError, ValueError):
        return False


def prepare_webdataset(raw_dir: Path, section: Webdataset) -> dict:
    """Index the good samples of the shards into `raw_dir`; return the report of bad ones."""
    raw_dir = Path(raw_dir)
    (raw_dir / INDEX_FILE).parent.mkdir(parents=True, exist_ok=True)
    field = section.caption_field
    urls = expand_braces(section.shards)
    bad: dict[str, list[str]] = {
        "image missing": [],
        "image undecodable": [],
        "caption missing or empty": [],
        "key repeated": [],
        "key not a relative name": [],
    }
    seen, good = set(), 0
    shard_digests = {}
    with open(raw_dir / INDEX_FILE, "w") as index:
        for url in urls:
            if "://" not in url and not Path(url).is_file():
                what = "is a folder, not a tar file" if Path(url).is_dir() else "does not exist"
                raise TieError(f"webdataset.shards: {url} {what} (from {shorten(section.shards)})")
            for key, members, data in iter_samples(url, shard_digests):
                name = f"{url}:{key}"
                image = next((e for e in IMAGE_EXTENSIONS if e in members), None)
                caption = data.get(field, b"").decode("utf-8", errors="replace").strip()
                if name_problem(key):
                    bad["key not a relative name"].append(shorten(name))
                elif image is None:
                    bad["image missing"].append(name)
                elif not data[image]:
                    bad["image undecodable"].append(name)
                elif not caption:
                    bad["caption missing or empty"].append(name)
                elif key in seen:
                    bad["key repeated"].append(name)
                else:
                    seen.add(key)
                    info = members[image]
                    record = {"key": key, "url": url, "offset": info.offset_data}
                    record |= {"size": info.size, "caption": caption}
                    index.write(json.dumps(record, ensure_ascii=False) + "\n")
                    good += 1
    report = {
        "shards": len(urls),
        "samples": good + sum(len(names) for names in bad.values()),
        "good": good,
        "bad": {reason: len(names) for reason, names in bad.items()},
        "bad_samples": bad,
        "shard_sha256": shard_digests,
    }
    (raw_dir / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
    return report
