"""`colorgrid`: a weight-free image descriptor, colour histograms on a spatial grid.

The kind of feature early image-annotation work on Flickr8k used before CNNs. The
image is resized to a fixed square, each pixel's RGB is quantised to
`bins_per_channel`³ colours, and a histogram is taken over the whole image and over
each cell of a `grid`×`grid` layout (3×3 matches captions' "left / centre / right",
"top / bottom"). Histograms are normalised and square-rooted (the Hellinger map), so
a linear method such as CCA compares them sensibly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from tie.image.decode import ImageDecodeError, open_rgb
from tie.progress import progress


class ColorGrid:
    name = "colorgrid"

    def __init__(self, grid: int = 3, bins_per_channel: int = 4, size: int = 96):
        self.grid = grid
        self.bins_per_channel = bins_per_channel
        self.size = size

    @property
    def dim(self) -> int:
        return (1 + self.grid**2) * self.bins_per_channel**3

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        """The descriptor of one (size, size, 3) uint8 image."""
        b = self.bins_per_channel
        q = (rgb.astype(np.int32) * b) // 256
        colour = (q[..., 0] * b + q[..., 1]) * b + q[..., 2]
        n_colours = b**3
        cell = self.size // self.grid
        rows = np.minimum(np.arange(self.size) // cell, self.grid - 1)
        cell_of_pixel = rows[:, None] * self.grid + rows[None, :]
        counts = np.bincount(
            (cell_of_pixel * n_colours + colour).ravel(), minlength=self.grid**2 * n_colours
        ).reshape(self.grid**2, n_colours)
        hist = np.vstack([counts.sum(axis=0, keepdims=True), counts]).astype(np.float32)
        hist /= hist.sum(axis=1, keepdims=True)
        return np.sqrt(hist).ravel()

    def fingerprint(self) -> dict:
        bins = self.bins_per_channel
        return {"image": self.name, "grid": self.grid, "bins": bins, "size": self.size}

    def feature_batches(self, paths: list[Path]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One (position, row) at a time; an unreadable image is skipped (reported missing)."""
        for position, path in enumerate(paths):
            try:
                rgb = self._resized(path)
            except ImageDecodeError:  # missing, truncated, not an image, ...
                continue
            yield np.array([position]), self.describe(np.asarray(rgb))[None]

    def encode(self, paths: list[Path]) -> np.ndarray:
        out = np.empty((len(paths), self.dim), dtype=np.float32)
        for row, path in enumerate(progress(paths, desc="colorgrid", unit="img")):
            out[row] = self.describe(np.asarray(self._resized(path)))
        return out

    def _resized(self, path: Path) -> Image.Image:
        with open_rgb(path) as rgb:
            return rgb.resize((self.size, self.size), Image.BILINEAR)
