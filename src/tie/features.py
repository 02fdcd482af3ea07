"""Feature files: a float32 `.npy` matrix and, beside it, the ids of its rows in order.

Stages downstream check the ids against the corpus, so features computed for another
list of images or captions are refused instead of being silently misaligned. Caption
features are in corpus order. Image features are in the order of the image list (the
corpus's images sorted by name, `Corpus.image_list`), the same whichever way the images
are split, so that changing `split` never computes them again: `load_image_features`
gives, beside the matrix, the row of each corpus image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tie.errors import TieError


def ids_path(features_path: Path) -> Path:
    return Path(features_path).with_suffix(".ids.txt")


def save_features(path: Path, matrix: np.ndarray, ids: list[str]) -> None:
    if len(ids) != len(matrix):
        raise ValueError(f"{len(ids)} ids for {len(matrix)} feature rows")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(matrix, dtype=np.float32))
    ids_path(path).write_text("".join(f"{i}\n" for i in ids))


def create_features(path: Path, ids: list[str], n_columns: int) -> np.ndarray:
    """A float32 `.npy` feature file of len(ids) rows, memory-mapped for writing in chunks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids_path(path).write_text("".join(f"{i}\n" for i in ids))
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(ids), n_columns))


def load_features(path: Path, expected_ids: list[str]) -> np.ndarray:
    path = Path(path)
    for needed in (path, ids_path(path)):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` to compute the features")
    ids = ids_path(path).read_text().splitlines()
    if ids != expected_ids:
        raise TieError(
            f"{path} has rows for a different list of items than the current splits"
            f" ({len(ids)} rows, {len(expected_ids)} expected): re-run `dvc repro`"
        )
    return np.load(path, mmap_mode="r")


def load_image_features(path: Path, images: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The image feature matrix at `path` (memory-mapped) and the row of each of `images`."""
    path = Path(path)
    for needed in (path, ids_path(path)):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` to compute the features")
    row_of = {image: row for row, image in enumerate(ids_path(path).read_text().splitlines())}
    missing = [image for image in images if image not in row_of]
    if missing:
        raise TieError(
            f"{path} has no row for {len(missing)} images of the current splits (e.g. "
            f"{missing[0]}): it was computed for another list of images; re-run `dvc repro`"
        )
    return np.load(path, mmap_mode="r"), np.array([row_of[i] for i in images], dtype=np.int64)
