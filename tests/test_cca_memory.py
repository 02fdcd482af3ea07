"""The `cca` stage's memory does not grow with the number of caption rows, and grows with the
text side's width as one covariance buffer.

The stage runs in a subprocess on two corpora that differ only in their number of train
images (4x the caption rows, the same val split and widths), and reports its peak
resident memory (`ru_maxrss`, file-backed pages included). The train caption features
of the larger one are 82 MB (164 MB in float64): a copy of them, a memory map's touched
pages, or chunks sized by the number of rows show; the covariances and the blocks of the
stream are the same size for both, and both corpora fill a whole read chunk
(`tie.moments.stream.CHUNK_BYTES`). Measured: 214 -> 214 MB; before streaming, 214 -> 439 MB.
"""

import subprocess
import sys

import numpy as np
import pytest
import yaml
from helpers import REPO

from tie.corpus.corpus import Corpus
from tie.features.store import save_features

DX, DY = 16, 512  # a wide text side: its rows are what would be copied
N_VAL = 100
CAPTIONS_PER_IMAGE = 5
# What may grow with the rows: the corpus and the ids (short strings; ~0.5 KB a caption).
SLACK_MB = 40

PEAK_SCRIPT = """
import resource, runpy, sys
sys.argv = ["cca.py", *sys.argv[2:]]
try:
    runpy.run_path(sys.argv_stage, run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
print("peak_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def make_project(root, n_train, rng):
    """A corpus of n_train + N_VAL images, its feature files and a params.yaml."""
    root.mkdir()
    n_images = n_train + N_VAL
    images = [f"{i:06d}.jpg" for i in range(n_images)]
    splits = ["train"] * n_train + ["val"] * N_VAL
    captions = [[f"c{k}" for k in range(CAPTIONS_PER_IMAGE)] for _ in images]
    corpus = Corpus("demo", images, splits, captions)
    corpus.save(root / "splits.json")
    shared = rng.standard_normal((n_images, 8)).astype(np.float32)
    X = np.hstack([shared, rng.standard_normal((n_images, DX - 8), dtype=np.float32)])
    Y = np.repeat(shared, CAPTIONS_PER_IMAGE, axis=0) @ rng.standard_normal((8, DY)).astype(
        np.float32
    )
    Y += rng.standard_normal(Y.shape, dtype=np.float32)
    save_features(root / "image.npy", X, images)
    save_features(root / "text.npy", Y, corpus.caption_ids)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cca"] |= {"n_components": 4, "reg": 1e-3, "scale_power": 1.0}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def stage_peak_mb(root, stage, args):
    script = PEAK_SCRIPT.replace("sys.argv_stage", repr(str(REPO / "stages" / f"{stage}.py")))
    result = subprocess.run(
        [sys.executable, "-c", script, "stage", *args],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.split("peak_kb")[-1]) / 1024


def peak_mb(root):
    """The larger peak of the `moments` and `cca` stages on `root`'s project."""
    features = ["splits.json", "image.npy", "text.npy", "moments"]
    moments = stage_peak_mb(root, "moments", features)
    cca = stage_peak_mb(root, "cca", [*features, "model", "grid.csv", "selection.json"])
    assert (root / "model" / "cca.npz").exists()
    return max(moments, cca)


def test_cca_stage_memory_does_not_grow_with_the_caption_rows(tmp_path):
    rng = np.random.default_rng(0)
    make_project(tmp_path / "small", 2_000, rng)
    make_project(tmp_path / "large", 8_000, rng)
    small, large = peak_mb(tmp_path / "small"), peak_mb(tmp_path / "large")
    # 6,000 more images: 30,000 more caption rows of 512 float32 (61 MB, 123 MB in float64).
    assert large - small < SLACK_MB, f"peak RSS {small:.0f} MB -> {large:.0f} MB"


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_ridge_eigenvalue_search_never_copies_the_covariance(order):
    """The Lanczos search multiplies by the covariance in place, whatever its memory order
    (a Fortran-ordered one was copied whole at every product: 2.6 GB at 18,000-d)."""
    import tracemalloc

    from tie.joint.cca import _largest_eigenvalue

    a = np.random.default_rng(0).standard_normal((1200, 1200))
    cov = np.asarray(a @ a.T / 1200, order=order)
    tracemalloc.start()
    try:
        value = _largest_eigenvalue(cov)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < cov.nbytes / 10, (
        f"{peak / 1e6:.1f} MB traced for a {cov.nbytes / 1e6:.1f} MB matrix"
    )
    assert value == pytest.approx(np.linalg.eigvalsh(cov)[-1], rel=1e-12)


# A child that fits at width D, its rows generated as they are read (no data in memory),
# and prints its peak RSS. "fit": `CCA.fit` (the library: covariances factored in place);
# "stages": the moments saved, then read back and factored for two reg values, as the
# `moments` and `cca` stages do.
WIDTH_SCRIPT = """
import sys, tempfile
import numpy as np

class Rows:
    def __init__(self, n, d, seed):
        self.shape, self.dtype, self.ndim = (n, d), np.dtype(np.float32), 2
        self.freqs = np.random.default_rng(seed).uniform(0.1, 3.0, d)
    def __len__(self):
        return self.shape[0]
    def __getitem__(self, index):  # float32 rows, made 64 at a time (no float64 chunk)
        rows = np.atleast_1d(np.arange(self.shape[0])[index]) + 1.0
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        for start in range(0, len(rows), 64):
            out[start : start + 64] = np.sin(np.outer(rows[start : start + 64], self.freqs))
        return out

d, mode = int(sys.argv[1]), sys.argv[2]
X, Y = Rows(300, 16, 0), Rows(1500, d, 1)
image_index = np.arange(1500) // 5
from tie.joint.cca import CCA
if mode == "fit":
    CCA(n_components=8, reg=1e-3).fit(X, Y, image_index=image_index)
else:
    from tie.joint.cca import CholeskyBuffers
    from tie.moments.store import load_moments, save_moments
    from tie.moments.stream import covariances
    folder = tempfile.mkdtemp()
    save_moments(covariances(X, Y, image_index), folder)
    stored = load_moments(folder)
    buffers = CholeskyBuffers(stored)
    for reg in (1e-3, 1e-1):
        CCA(n_components=8, reg=reg).fit_covariances(stored, buffers)
# VmHWM, not ru_maxrss: Linux carries the parent's peak into a child's ru_maxrss across exec.
status = open("/proc/self/status").read().split("VmHWM:")[1]
print("peak_kb", int(status.split()[0]))
"""


def width_peak_mb(width: int, mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", WIDTH_SCRIPT, str(width), mode],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.split("peak_kb")[-1]) / 1024


@pytest.mark.slow
def test_peak_memory_grows_as_one_covariance_of_the_text_side():
    """The text side's covariance is accumulated, stored and factored in one d x d float64
    buffer: from d = 3,000 to 6,000 the peak grows by 8 (6000^2 - 3000^2) bytes (216 MB)
    times 1 + small, never 2 (a symmetric copy, a factor out of place: 432 MB). The small
    part is the block of 1,024 caption rows, linear in d (~48 MB here, 3% at 18,000-d).
    Measured: 178 -> 431 MB, 1.22x; `CCA.fit` before this change (the same child, "fit"):
    253 -> 669 MB, 2.02x."""
    small, large = width_peak_mb(3000, "stages"), width_peak_mb(6000, "stages")
    one_buffer = 8 * (6000**2 - 3000**2) / 2**20
    ratio = (large - small) / one_buffer
    assert 0.95 < ratio < 1.35, f"peak {small:.0f} -> {large:.0f} MB: {ratio:.2f}x one buffer"
