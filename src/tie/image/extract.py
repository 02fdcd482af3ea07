"""Image features written in shards, so memory stays flat and an interrupted run resumes.

An image encoder gives `dim`, `fingerprint()` (everything its output depends on) and
`feature_batches(paths)`: an iterator of `(positions, features)`, positions being
increasing indices into `paths`. An image the encoder could not read is simply
absent from those positions.

Shards of `SHARD_SIZE` images are written straight into their rows of the output's
future file, `features.npy` in a work folder beside the output (`<name>.shards/`): once a
shard's rows are on disk (msync), a small marker file records it as done, with its
unreadable images, atomically. So the disk holds one copy of the features, never
shards and a merged file side by side (49 GB, not 98 GB, for 3M images at 4,096-d).

The folder's manifest records a resume key: a hash of the encoder (its name,
`fingerprint()` and `dim`), the shard size, and every input's id and content (a SHA-256
of the file's bytes, read in blocks). A rerun whose key is the same skips the shards
already there (after Ctrl-C or a killed process, only the shard in
progress is lost); any other key means other inputs or another encoder, so the folder
is an abandoned run's: it is removed and extraction starts afresh. At the end the file
is moved to the output's path (a rename: no copy) and the work folder is removed.

The key depends on content, not names: regenerated or replaced images with the same
file names are never mixed with rows computed from the old ones. Hashing reads each
image once more than decoding does; `benchmarks/resume_key.py` measures the cost
(small next to any encoder).

Unreadable images (corrupt, truncated, missing, not an image, over the pixel limit,
anything the decoder raises): the policy is that the image keeps its row, filled with
zeros (a zero vector has cosine 0 with everything, as a caption with no known word
does), so no other image's row moves. Every header is checked against `max_pixels`
before the encoder sees the file (see `tie.image.decode`); an image the encoder then
skips is decoded once more by the shared decoder to say why. Names and reasons are
returned, printed by the stage and recorded in its report file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from tie.features.store import ensure_free_space, write_ids
from tie.image.decode import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_problem, image_size
from tie.progress import progress

SHARD_SIZE = 512


class ImageEncoder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def fingerprint(self) -> dict: ...

    def feature_batches(self, paths: list[Path]) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


def work_dir(out: Path) -> Path:
    return Path(out).with_suffix(".shards")


def content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, streamed; "missing" for a file that cannot be read.

    `path` may also be a member of a tar shard (`tie.raw.webdataset.TarMember`).
    """
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:  # missing: its row is zeros, and the key changes when it appears
        return "missing"


def resume_key(encoder: ImageEncoder, paths: list[Path], ids: list[str], shard_size: int) -> str:
    """Everything the shards depend on, hashed: encoder, settings, ids and image contents."""
    digest = hashlib.sha256()
    header = {
        "encoder": encoder.name,
        "fingerprint": encoder.fingerprint(),
        "dim": encoder.dim,
        "shard_size": shard_size,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for image_id, path in zip(ids, paths, strict=True):
        digest.update(f"\n{image_id}\t{content_digest(path)}".encode())
    return digest.hexdigest()


def _manifest(
    encoder: ImageEncoder, paths: list[Path], ids: list[str], shard_size: int, max_pixels: int
) -> dict:
    return {
        "resume_key": resume_key(encoder, paths, ids, shard_size),
        "layout": _LAYOUT,
        "max_pixels": max_pixels,  # which images are refused before decoding
        "encoder": encoder.fingerprint(),  # readable copies of what the key covers
        "images": len(ids),
        "shard_size": shard_size,
    }


# How the work folder holds finished shards: their rows in one file, markers beside it. A
# folder of another layout (an older version's) is abandoned, as one of another key.
_LAYOUT = "rows-in-place"
_ROWS_FILE = "features.npy"


def _shard_path(folder: Path, k: int) -> Path:
    """The marker of shard k: written once its rows are on disk (its unreadable images)."""
    return folder / f"shard-{k:05d}.npz"


def _open_rows(folder: Path, shape) -> np.ndarray:
    """The work folder's feature file, memory-mapped: created, or reopened to resume."""
    path = folder / _ROWS_FILE
    if path.exists():
        return np.load(path, mmap_mode="r+")
    ensure_free_space(path, 4 * int(np.prod(shape)))  # not a SIGBUS on a full disk later
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)


def _save_shard(
    rows: np.ndarray,
    folder: Path,
    k: int,
    shard_size: int,
    features: np.ndarray,
    unreadable: np.ndarray,
    reasons: list[str],
) -> None:
    """Shard k's rows into the feature file, flushed, then its marker, atomically."""
    rows[k * shard_size : k * shard_size + len(features)] = features
    rows.flush()  # msync: the rows are on disk before the marker says so
    path = _shard_path(folder, k)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        np.savez(f, unreadable=unreadable, reasons=np.array(reasons, dtype=str))
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def _prepare(folder: Path, manifest: dict) -> int:
    """Make the work folder match `manifest`; return how many shards are already done.

    A folder with another resume key or layout (or none) is an abandoned run's and is
    removed.
    """
    manifest_file = folder / "manifest.json"
    if folder.exists():
        previous = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
        same = ("resume_key", "layout")
        if any(previous.get(key) != manifest[key] for key in same):
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_file.write_text(json.dumps(manifest, indent=1) + "\n")
    done = 0
    while _shard_path(folder, done).exists():
        done += 1
    return done


def _done_shards(folder: Path, n_shards: int) -> set[int]:
    return {k for k in range(n_shards) if _shard_path(folder, k).exists()}


def extract_features(
    encoder: ImageEncoder,
    paths: list[Path],
    out: Path,
    ids: list[str],
    shard_size: int = SHARD_SIZE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    encode_shards=None,
) -> dict[str, str]:
    """Write one row per path to `out` (+ its ids file); return {id: reason} of the
    unreadable images, whose rows are zeros.

    `encode_shards(shards, shard_size)`, if given, encodes the missing shards elsewhere (a
    Ray cluster, `tie.image.ray.encode_shards`): it takes `(k, paths)` pairs (the
    images of shard k that passed the header check) and yields `(k, features, unreadable
    positions within those paths)` in any order; each shard is saved as it arrives, so an
    interrupted run resumes from the shards saved.
    """
    if len(ids) != len(paths):
        raise ValueError(f"{len(ids)} ids for {len(paths)} images")
    out = Path(out)
    folder = work_dir(out)
    n_images = len(paths)
    n_shards = -(-n_images // shard_size)
    done = _prepare(folder, _manifest(encoder, paths, ids, shard_size, max_pixels))
    rows = _open_rows(folder, (n_images, encoder.dim))
    if encode_shards is not None:
        _encode_missing_shards(
            encode_shards, encoder, paths, folder, rows, n_shards, shard_size, max_pixels
        )
        return _finish(folder, rows, n_shards, out, ids)
    start = min(done * shard_size, n_images)
    if done:
        print(f"{encoder.name}: resuming after {done} of {n_shards} shards ({start} images)")
    refused = _refused_before_decoding(paths, range(start, n_images), max_pixels)
    sent = _with_refused_as_missing(paths, refused, folder)
    bar = progress(total=n_images, initial=start, desc=encoder.name, unit="img")
    for k in range(done, n_shards):
        first = k * shard_size
        features, readable = encode_shard(encoder, sent[first : first + shard_size], bar.update)
        bad = first + np.flatnonzero(~readable)
        bar.update(len(bad))
        reasons = [_why_unreadable(encoder, paths[p], refused, int(p)) for p in bad]
        _save_shard(rows, folder, k, shard_size, features, bad, reasons)
    bar.close()
    return _finish(folder, rows, n_shards, out, ids)


def encode_shard(
    encoder: ImageEncoder, paths: list[Path], progress=None
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of one shard's images, and which were readable; `progress(n)` after a batch.

    Every shard is encoded by a call of its own, locally as on a Ray worker
    (`tie.image.ray`): an encoder's batches never span two shards, so a shard's rows
    depend on its own images only, bit for bit (a network's round-off depends on the
    batch it runs in), whatever the batch size and wherever an unreadable image falls.
    """
    features = np.zeros((len(paths), encoder.dim), dtype=np.float32)
    readable = np.zeros(len(paths), dtype=bool)
    for positions, rows in encoder.feature_batches(paths):
        features[positions] = rows
        readable[positions] = True
        if progress is not None:
            progress(len(positions))
    return features, readable


def _refused_before_decoding(paths: list[Path], positions, max_pixels: int) -> dict[int, str]:
    """{position: reason} of the images at `positions` whose header is unusable or too large."""
    refused = {}
    for position in positions:
        try:
            image_size(paths[position], max_pixels)
        except ImageDecodeError as error:
            refused[position] = str(error)
    return refused


def _with_refused_as_missing(paths: list, refused: dict[int, str], folder: Path) -> list:
    """`paths`, each refused image replaced by a file that does not exist: the encoder
    skips it as unreadable without decoding it, and every other image keeps its position
    (an encoder's batches, and so its round-off, depend on positions)."""
    missing = folder / "refused-before-decoding"
    return [missing if p in refused else path for p, path in enumerate(paths)]


def _why_unreadable(encoder: ImageEncoder, path: Path, refused: dict[int, str], p: int) -> str:
    if p in refused:
        return refused[p]
    return decode_problem(path) or f"the {encoder.name} encoder could not decode it"


def _encode_missing_shards(
    encode_shards, encoder, paths, folder, rows, n_shards, shard_size, max_pixels
) -> None:
    """Encode the shards not yet saved through `encode_shards`, with the same header check
    (and so the same rows) as the local loop."""
    missing = sorted(set(range(n_shards)) - _done_shards(folder, n_shards))
    if len(missing) < n_shards:
        print(f"{encoder.name}: resuming, {n_shards - len(missing)} of {n_shards} shards done")
    refused = {}
    for k in missing:
        positions = range(k * shard_size, min((k + 1) * shard_size, len(paths)))
        refused |= _refused_before_decoding(paths, positions, max_pixels)
    sent = _with_refused_as_missing(paths, refused, folder)
    shards = [(k, sent[k * shard_size : (k + 1) * shard_size]) for k in missing]
    bar = progress(total=len(missing), desc=encoder.name, unit="shard")
    for k, features, unreadable in encode_shards(shards, shard_size):
        bad = k * shard_size + np.asarray(unreadable, dtype=np.int64)
        reasons = [_why_unreadable(encoder, paths[p], refused, int(p)) for p in bad]
        _save_shard(rows, folder, k, shard_size, features, bad, reasons)
        bar.update()
    bar.close()


def _finish(folder: Path, rows: np.ndarray, n_shards: int, out: Path, ids: list[str]):
    """Move the finished feature file to `out` (a rename), write its ids; {id: reason}."""
    unreadable = {}
    for k in range(n_shards):
        with np.load(_shard_path(folder, k)) as marker:
            for p, reason in zip(marker["unreadable"], marker["reasons"], strict=True):
                unreadable[ids[int(p)]] = str(reason)
    rows.flush()
    del rows
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder / _ROWS_FILE, out)
    write_ids(out, ids)
    shutil.rmtree(folder)
    return unreadable
