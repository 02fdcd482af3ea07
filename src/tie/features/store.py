"""Feature files: a float32 `.npy` matrix and, beside it, the ids of its rows in order.

Stages downstream check the ids against the corpus, so features computed for another
list of images or captions are refused instead of being silently misaligned. Caption
features are in corpus order. Image features are in the order of the image list (the
corpus's images sorted by name, `Corpus.image_list`), the same whichever way the images
are split, so that changing `split` never computes them again: `load_image_features`
gives, beside the matrix, the row of each corpus image.

Both loaders return the matrix as `FeatureRows`: rows read from the file when they are
indexed, not a memory map (caption features stored as compact Fisher vectors come as
`tie.features.fisher_rows.FisherRows`, which computes them). A pass over a feature file larger
than RAM then holds only the rows it asked for: the file's pages stay in the kernel's
page cache, which the process's resident memory does not count (a memory map's touched
pages would count, up to the whole file).

A feature file is read only if it is what DVC recorded (`tie.recorded`): its MD5 must be the
one `dvc.lock` holds for it (a file altered in the workspace or in DVC's cache, its size and
date kept, passes `dvc status` but not this), and its values must be finite and within
+-`MAX_ABS_VALUE` (one value of 1e30 would swamp every covariance).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from tie.errors import TieError
from tie.features.fisher_rows import FisherRows, is_codes_file
from tie.features.rows import RowReader
from tie.recorded import check_recorded, reading

# No encoder writes values near this; float32 sums of squares of 10^7 rows of it stay finite.
MAX_ABS_VALUE = 1e12
CHECK_CHUNK = 2**24  # values scanned at once (64 MB of float32)


def ids_path(features_path: Path) -> Path:
    return Path(features_path).with_suffix(".ids.txt")


def write_ids(features_path: Path, ids: list[str]) -> None:
    """The ids file beside a feature file: one id a line, the rows' order."""
    ids_path(features_path).write_text("".join(f"{i}\n" for i in ids))


def save_features(path: Path, matrix: np.ndarray, ids: list[str]) -> None:
    if len(ids) != len(matrix):
        raise ValueError(f"{len(ids)} ids for {len(matrix)} feature rows")
    path = Path(path)
    matrix = np.asarray(matrix, dtype=np.float32)
    ensure_free_space(path, matrix.nbytes)
    partial = path.with_name(path.name + ".partial")
    try:  # whole or not at all: a full disk leaves no half-written file
        with open(partial, "wb") as f:
            np.save(f, matrix)
        partial.replace(path)
        write_ids(path, ids)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise TieError(f"could not write {path}: {error.strerror or error}") from None


def ensure_free_space(path: Path, n_bytes: int) -> None:
    """Refuse to start writing `n_bytes` at `path` on a disk with less room than that.

    A memory-mapped file on a full disk does not fail with an error: the process is
    killed by SIGBUS, with no message, leaving a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if free < n_bytes:
        raise TieError(
            f"not enough disk space for {path}: it needs {n_bytes / 1e6:.1f} MB and"
            f" {free / 1e6:.1f} MB are free there; free some (e.g. `dvc gc`) and re-run"
        )


def create_features(path: Path, ids: list[str], n_columns: int) -> np.ndarray:
    """A float32 `.npy` feature file of len(ids) rows, memory-mapped for writing in chunks."""
    path = Path(path)
    ensure_free_space(path, 4 * len(ids) * n_columns)
    write_ids(path, ids)
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(ids), n_columns))


class FeatureRows(RowReader):
    """The rows of a 2-D C-ordered `.npy` file, read from disk each time they are indexed
    (`tie.features.rows.RowReader`), not memory-mapped: the pages of a file larger than
    RAM stay in the page cache, out of the process's resident memory."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with self.path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(f)
            self._offset = f.tell()
        if len(shape) != 2 or fortran_order or dtype.hasobject:
            raise TieError(
                f"{self.path} is not a feature matrix (a 2-D C-ordered numeric .npy):"
                " re-run `dvc repro` to compute it"
            )
        self.shape, self.dtype = tuple(shape), dtype
        self._row_bytes = shape[1] * dtype.itemsize

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        if len(rows) == 0:
            return out
        # One read per run of consecutive rows (a slice is one run).
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(rows)]])
        with self.path.open("rb", buffering=0) as f:
            fd = f.fileno()
            for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
                target = memoryview(out[start:stop]).cast("B")
                position = self._offset + int(rows[start]) * self._row_bytes
                while len(target):
                    n_read = os.preadv(fd, [target], position)
                    if n_read == 0:
                        raise TieError(f"{self.path} is truncated: re-run `dvc repro`")
                    target, position = target[n_read:], position + n_read
        return out


class RowSubset(RowReader):
    """Rows `rows` of `matrix` (an array or a `RowReader`), read only when indexed.

    `RowSubset(Y, rows)[i]` is `Y[rows[i]]`: a pass over `Y[rows]` chunk by chunk without
    first copying all of it.
    """

    def __init__(self, matrix, rows):
        self.matrix, self.rows = matrix, np.asarray(rows)
        self.shape, self.dtype = (len(self.rows), matrix.shape[1]), matrix.dtype

    def _read(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[self.rows[rows]])


def load_features(path: Path, expected_ids: list[str]) -> FeatureRows | FisherRows:
    """The feature rows at `path`, checked against `expected_ids`, read when indexed.

    A dense `.npy` gives `FeatureRows`; Fisher vectors stored in compact form
    (`fisher.store: codes`) give `tie.features.fisher_rows.FisherRows`, which computes the rows.
    """
    path = Path(path)
    ids = _checked_ids(path)
    if ids != expected_ids:
        raise TieError(
            f"{path} has rows for a different list of items than the current splits"
            f" ({len(ids)} rows, {len(expected_ids)} expected): re-run `dvc repro`"
        )
    with reading(path):
        if is_codes_file(path):
            return FisherRows(path)
        return check_values(path, FeatureRows(path))


def load_image_features(path: Path, images: list[str]) -> tuple[FeatureRows, np.ndarray]:
    """The image feature matrix at `path` (`FeatureRows`) and the row of each of `images`."""
    path = Path(path)
    row_of = {image: row for row, image in enumerate(_checked_ids(path))}
    missing = [image for image in images if image not in row_of]
    if missing:
        raise TieError(
            f"{path} has no row for {len(missing)} images of the current splits (e.g. "
            f"{missing[0]}): it was computed for another list of images; re-run `dvc repro`"
        )
    with reading(path):
        matrix = check_values(path, FeatureRows(path))
    return matrix, np.array([row_of[i] for i in images], dtype=np.int64)


def _checked_ids(path: Path) -> list[str]:
    """The ids of feature file `path`, both files present and as dvc.lock records them."""
    for needed in (path, ids_path(path)):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` to compute the features")
    check_recorded(path)
    check_recorded(ids_path(path))
    return ids_path(path).read_text().splitlines()


def check_values(path: Path, matrix: np.ndarray) -> np.ndarray:
    """`matrix`, after checking that every value is finite and within +-MAX_ABS_VALUE."""
    rows = max(1, CHECK_CHUNK // max(1, int(np.prod(matrix.shape[1:]))))
    for start in range(0, len(matrix), rows):
        chunk = np.asarray(matrix[start : start + rows])
        bad = ~(np.abs(chunk) <= MAX_ABS_VALUE)  # NaN compares False: caught too
        if bad.any():
            row = start + int(np.flatnonzero(bad.reshape(len(chunk), -1).any(axis=1))[0])
            value = chunk[row - start][bad[row - start]].flat[0]
            raise TieError(
                f"{path}, row {row}: value {value:.3g} (features must be finite and within"
                f" +-{MAX_ABS_VALUE:.0e}): the file is damaged; recompute it (`dvc repro -f`"
                " the stage that writes it)"
            )
    return matrix
