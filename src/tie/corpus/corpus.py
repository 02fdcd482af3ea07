"""The captioned-image corpus every stage after `splits` reads.

One record per image, in a fixed order: its id (the image file name), its split
(train / val / test) and its captions. Feature files have one row per image (image
side) or per caption (text side, images' captions concatenated in image order), so
a row is located by position, never by searching for a name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from tie.config.registry import SPLITS
from tie.recorded import check_recorded, reading


@dataclass(frozen=True)
class SplitView:
    """The rows of one split in the corpus-wide feature matrices."""

    image_rows: np.ndarray  # rows of the image feature matrix
    caption_rows: np.ndarray  # rows of the caption feature matrix
    caption_image_index: np.ndarray  # per caption row: position in image_rows


@dataclass
class Corpus:
    dataset: str
    images: list[str]
    splits: list[str]
    captions: list[list[str]]
    report: dict = field(default_factory=dict)

    def __post_init__(self):
        if not (len(self.images) == len(self.splits) == len(self.captions)):
            raise ValueError("images, splits and captions must have one entry per image")
        unknown = sorted(set(self.splits) - set(SPLITS))
        if unknown:
            raise ValueError(f"unknown split names {unknown}; expected {list(SPLITS)}")

    # The caption-level views below are derived once: callers index them caption by
    # caption, and rebuilding a 600k-entry list per index would be quadratic.
    @cached_property
    def caption_ids(self) -> list[str]:
        return [
            f"{image}#{k}"
            for image, caps in zip(self.images, self.captions, strict=True)
            for k in range(len(caps))
        ]

    @cached_property
    def flat_captions(self) -> list[str]:
        return [caption for caps in self.captions for caption in caps]

    @cached_property
    def caption_image(self) -> np.ndarray:
        """For every caption row, the row of its image."""
        counts = [len(caps) for caps in self.captions]
        return np.repeat(np.arange(len(self.images)), counts)

    def split_view(self, split: str) -> SplitView:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        in_split = np.array([s == split for s in self.splits], dtype=bool)
        image_rows = np.flatnonzero(in_split)
        caption_image = self.caption_image
        caption_rows = np.flatnonzero(in_split[caption_image])
        position = np.full(len(self.images), -1)
        position[image_rows] = np.arange(len(image_rows))
        return SplitView(image_rows, caption_rows, position[caption_image[caption_rows]])

    def image_list(self) -> list[str]:
        """The images sorted by name: the rows of the image features, whatever the split."""
        return sorted(self.images)

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for split in SPLITS:
            view = self.split_view(split)
            out[split] = {"images": len(view.image_rows), "captions": len(view.caption_rows)}
        return out

    def save(self, path: str | Path) -> None:
        records = [
            {"image": image, "split": split, "captions": caps}
            for image, split, caps in zip(self.images, self.splits, self.captions, strict=True)
        ]
        payload = {"dataset": self.dataset, "report": self.report, "images": records}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Corpus:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: run `dvc repro splits` first")
        check_recorded(path)
        with reading(path):
            payload = json.loads(path.read_text())
            records = payload["images"]
            return cls(
                dataset=payload["dataset"],
                images=[r["image"] for r in records],
                splits=[r["split"] for r in records],
                captions=[r["captions"] for r in records],
                report=payload.get("report", {}),
            )
