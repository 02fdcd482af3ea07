"""Per-query ranks of both directions, with the queries' ids: what paired comparisons need.

The `evaluate` stage writes them to `metrics/ranks.csv` (a DVC output, and an MLflow
artifact), one line per query:

    direction,query,image,rank
    image_search,<caption id>,<its image id>,3
    image_annotation,<image id>,<image id>,1

Two results are compared pair by pair only when they ranked the same queries: the same
test images, the same captions, each caption of the same image (`align`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tie.config.lock import Lock
from tie.config.paths import RANKS
from tie.errors import TieError

HEADER = ("direction", "query", "image", "rank")


@dataclass(frozen=True)
class QueryRanks:
    """The ranks of one result, images and captions each sorted by id."""

    image_ids: tuple[str, ...]
    caption_ids: tuple[str, ...]
    caption_image_index: np.ndarray  # per caption, the position of its image in image_ids
    search: np.ndarray  # per caption: the rank of its image
    annotation: np.ndarray  # per image: the rank of its first own caption

    @classmethod
    def of(cls, image_ids, caption_ids, caption_image_index, search, annotation) -> QueryRanks:
        """From any order of images and captions (e.g. the split's rows)."""
        images = np.argsort(image_ids, kind="stable")
        captions = np.argsort(caption_ids, kind="stable")
        position = np.empty(len(images), dtype=np.int64)
        position[images] = np.arange(len(images))
        return cls(
            tuple(image_ids[i] for i in images),
            tuple(caption_ids[i] for i in captions),
            position[np.asarray(caption_image_index)[captions]],
            np.asarray(search, dtype=np.int64)[captions],
            np.asarray(annotation, dtype=np.int64)[images],
        )

    @property
    def ranks(self) -> tuple[np.ndarray, np.ndarray]:
        return self.search, self.annotation

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_csv())

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for caption, image, rank in zip(
            self.caption_ids, self.caption_image_index, self.search, strict=True
        ):
            writer.writerow(("image_search", caption, self.image_ids[image], int(rank)))
        for image, rank in zip(self.image_ids, self.annotation, strict=True):
            writer.writerow(("image_annotation", image, image, int(rank)))
        return out.getvalue()

    @classmethod
    def from_csv(cls, text: str, where: str) -> QueryRanks:
        """Parse a ranks file; `where` names it in the error if it is not one."""
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or tuple(rows[0]) != HEADER:
            raise TieError(f"{where} is not a per-query ranks file (header {','.join(HEADER)})")
        search = [r for r in rows[1:] if r[0] == "image_search"]
        annotation = [r for r in rows[1:] if r[0] == "image_annotation"]
        image_ids = [r[1] for r in annotation]
        position = {image: i for i, image in enumerate(image_ids)}
        try:
            index = [position[r[2]] for r in search]
        except KeyError as error:
            raise TieError(f"{where}: caption of image {error} which ranks no captions") from None
        return cls.of(
            image_ids,
            [r[1] for r in search],
            index,
            [int(r[3]) for r in search],
            [int(r[3]) for r in annotation],
        )

    @classmethod
    def read(cls, path: Path) -> QueryRanks:
        return cls.from_csv(Path(path).read_text(), str(path))


def check_same_queries(a: QueryRanks, b: QueryRanks, name_a: str, name_b: str) -> None:
    """One-line refusal unless `a` and `b` ranked the same images and captions."""
    for what, ids_a, ids_b in (
        ("test images", a.image_ids, b.image_ids),
        ("test captions", a.caption_ids, b.caption_ids),
    ):
        if ids_a != ids_b:
            only_a, only_b = sorted(set(ids_a) - set(ids_b)), sorted(set(ids_b) - set(ids_a))
            example = (
                f"{only_a[0]!r} only in {name_a}" if only_a else f"{only_b[0]!r} only in {name_b}"
            )
            raise TieError(
                f"{name_a} and {name_b} were not scored on the same protocol: their {what}"
                f" differ ({len(ids_a)} vs {len(ids_b)}, {len(only_a) + len(only_b)} not"
                f" shared, e.g. {example}); compare runs of the same dataset, split and"
                " eval.split"
            )
    if not np.array_equal(a.caption_image_index, b.caption_image_index):
        raise TieError(
            f"{name_a} and {name_b} were not scored on the same protocol: some captions"
            " belong to different images; compare runs of the same dataset and split"
        )


def workspace_ranks(root: Path = Path(".")) -> QueryRanks | None:
    """The workspace's ranks file, if it is the one `dvc.lock` records (else None)."""
    path = Path(root) / RANKS
    lock = Lock.of_workspace(root)
    if not path.exists() or lock is None:
        return None
    recorded = (lock.out("evaluate", RANKS) or {}).get("md5")
    content = path.read_bytes()
    if recorded != hashlib.md5(content).hexdigest():
        return None  # left by another run: not this result's ranks
    return QueryRanks.from_csv(content.decode(), f"{RANKS} of the workspace")


def ranks_at(rev: str, root: Path = Path(".")) -> QueryRanks | None:
    """The ranks file the commit `rev` records (from DVC's cache or remote); None if none."""
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        text = dvc.api.read(RANKS, repo=str(Path(root).resolve()), rev=rev)
    except (DvcException, FileNotFoundError):
        return None
    return QueryRanks.from_csv(text, f"{RANKS} at {rev[:12]}")


def mlflow_ranks(run_id: str, tracking_uri: str) -> QueryRanks | None:
    """The ranks artifact of an MLflow run; None if it has none."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per file
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    if not any(a.path == Path(RANKS).name for a in client.list_artifacts(run_id)):
        return None
    with tempfile.TemporaryDirectory() as folder:
        local = client.download_artifacts(run_id, Path(RANKS).name, folder)
        return QueryRanks.read(Path(local))
