"""The real material of `../shared/real/` (its README.md): real Flickr8k photos with their
captions and ImageNet weights of MobileNet v1 in Keras' cache.

Tests marked `real` run the pipeline on it. Where it is missing they skip saying why; with
TIE_REQUIRE_REAL=1 (set by `.ci/run`, which installs the weights) a missing piece is a
failure instead, as TIE_REQUIRE_BROWSER=1 does for the browser tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import REPO

REAL_DIR_ENV = "TIE_REAL_DIR"  # default: shared/real beside the repository
PHOTOS = "flickr8k-1500"  # 1,000 train, 200 val, 300 test photos, 5 captions each
WEIGHTS = ("mobilenet_1_0_224_tf_no_top.h5", "mobilenet_1_0_224_tf.h5")


def real_dir() -> Path:
    return Path(os.environ.get(REAL_DIR_ENV) or REPO.parent / "shared" / "real")


def keras_models_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "models"


def missing() -> str | None:
    """What of the real material is missing here, or None."""
    photos = real_dir() / PHOTOS
    if not (photos / "captions.csv").is_file() or not (photos / "images").is_dir():
        return f"no real photos at {photos} (set {REAL_DIR_ENV} to the folder of shared/real)"
    absent = [name for name in WEIGHTS if not (keras_models_dir() / name).is_file()]
    if absent:
        return (
            f"MobileNet's ImageNet weights are not in Keras' cache {keras_models_dir()}"
            f" ({', '.join(absent)}): run {real_dir() / 'install-mobilenet-weights'}"
            " .venv/bin/python"
        )
    return None


def require_real_material() -> Path:
    """The folder of the 1,500 real photos; else skip (fail with TIE_REQUIRE_REAL=1)."""
    reason = missing()
    if reason is None:
        return real_dir() / PHOTOS
    if os.environ.get("TIE_REQUIRE_REAL") == "1":
        pytest.fail(f"{reason}, and TIE_REQUIRE_REAL=1 requires the real-photo tests to run")
    pytest.skip(f"{reason} (set TIE_REQUIRE_REAL=1 to make this a failure)")
