"""The moments on disk: the `moments` stage's output, the `cca` stage's input.

A folder of .npy files and a readable summary:

- `moments.json`: the number of pairs and the two dimensions;
- `x_mean.npy`, `y_mean.npy`: the means (float64);
- `xx.npy`, `yy.npy`: each covariance as its lower triangle packed by columns (LAPACK's
  'L' packed layout: column j from the diagonal down, then column j + 1), float64, one
  dimension of n (n + 1) / 2 values: half the square. 1.30 GB at 18,000-d, 5.18 GB at
  36,000-d;
- `xy.npy`: the cross-covariance, (dx, dy) float64 in Fortran order.

The covariances are written from the accumulating buffer and read back into the solver's
buffer column by column, with plain file reads and writes: no second copy of a side's
covariance, packed or square, is ever in memory, and no memory map adds the file's pages
to the process (`load_moments` reads a triangle again for every `reg` of a grid: its buffer
then holds the Cholesky factor). The values are float64 as accumulated, not rounded:
their last bits depend on the BLAS kernel (see docs/cca.md, "Same bytes on every machine").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tie.moments.stream import Covariances

SUMMARY_FILE = "moments.json"
FORMAT = "tie moments 1"


def save_moments(cov: Covariances, directory) -> None:
    """Write `cov` (from `tie.moments.stream.covariances` or the Ray pass) to `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "x_mean.npy", np.asarray(cov.x_mean, dtype=np.float64))
    np.save(directory / "y_mean.npy", np.asarray(cov.y_mean, dtype=np.float64))
    np.save(directory / "xy.npy", np.asfortranarray(cov.xy, dtype=np.float64))
    for side in ("xx", "yy"):
        _write_packed(directory / f"{side}.npy", getattr(cov, side))
    summary = {
        "format": FORMAT,
        "n_pairs": int(cov.n_pairs),
        "x_dim": len(cov.x_mean),
        "y_dim": len(cov.y_mean),
        "covariances": "normalised by n_pairs; xx and yy: lower triangles packed by columns",
    }
    (directory / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")


class StoredMoments:
    """Moments written by `save_moments`: the means and Cxy in memory, each side's covariance
    read from disk into a buffer when asked (`lower`), as `Covariances.lower` copies it."""

    def __init__(self, directory):
        directory = Path(directory)
        summary_file = directory / SUMMARY_FILE
        if not summary_file.is_file():
            raise FileNotFoundError(
                f"{summary_file} does not exist: run `dvc repro moments` to compute the moments"
            )
        summary = json.loads(summary_file.read_text())
        if summary.get("format") != FORMAT:
            raise ValueError(f"{summary_file}: not a moments folder of this version ({FORMAT})")
        self.directory = directory
        self.n_pairs = int(summary["n_pairs"])
        self.x_mean = np.load(directory / "x_mean.npy")
        self.y_mean = np.load(directory / "y_mean.npy")
        self.xy = np.load(directory / "xy.npy")
        self._dims = {"xx": int(summary["x_dim"]), "yy": int(summary["y_dim"])}

    def dimension(self, side: str) -> int:
        return self._dims[side]

    def lower(self, side: str, out: np.ndarray | None = None) -> np.ndarray:
        """The covariance `side` ('xx' or 'yy') as a Fortran-ordered lower triangle, read into
        `out` (its upper triangle left as it is: zero for a new buffer) or a new buffer."""
        n = self._dims[side]
        if out is None:
            out = np.zeros((n, n), order="F")
        _read_packed(self.directory / f"{side}.npy", out)
        return out


def load_moments(directory) -> StoredMoments:
    """The moments in `directory` (written by `save_moments`)."""
    return StoredMoments(directory)


def symmetric(lower: np.ndarray) -> np.ndarray:
    """The full symmetric matrix of a lower triangle (a new array: tests and small data)."""
    lower = np.asarray(lower)
    return np.tril(lower) + np.tril(lower, -1).T


def _write_packed(path: Path, lower: np.ndarray) -> None:
    n = len(lower)
    if not (lower.flags.f_contiguous and lower.dtype == np.float64):
        lower = np.asfortranarray(lower, dtype=np.float64)  # small data only: the pass's are
    header = {"descr": "<f8", "fortran_order": False, "shape": (n * (n + 1) // 2,)}
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for j in range(n):  # column j from the diagonal down: contiguous in Fortran order
            f.write(lower[j:, j].data)


def _read_packed(path: Path, out: np.ndarray) -> None:
    n = len(out)
    if not (out.flags.f_contiguous and out.dtype == np.float64 and out.shape == (n, n)):
        raise ValueError("the buffer must be a square Fortran-ordered float64 array")
    with path.open("rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(
            version, np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(f)
        if shape != (n * (n + 1) // 2,) or dtype != np.float64:
            raise ValueError(f"{path}: a packed triangle of order {n} was expected, got {shape}")
        for j in range(n):
            column = out[j:, j]
            if f.readinto(column.data) != column.nbytes:
                raise ValueError(f"{path} is truncated: rewrite it with `dvc repro moments`")
