import os

import pytest
from helpers import build_demo_project

# Tests talk to loopback only: no usage telemetry from DVC or MLflow.
os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory):
    """The tiny demo after one `dvc repro`, built once per session.

    Tests that change a project work on their own copy (`helpers.copy_project`).
    """
    return build_demo_project(tmp_path_factory.mktemp("demo-project"))


@pytest.fixture(scope="session")
def tiny_clip_preset(tmp_path_factory):
    """A tiny random CLIP saved as a KerasHub preset directory (see tower_presets)."""
    from tower_presets import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("presets") / "clip_tiny")


@pytest.fixture(scope="session")
def tiny_siglip_preset(tmp_path_factory):
    """A tiny random SigLIP saved as a KerasHub preset directory (see tower_presets)."""
    from tower_presets import make_tiny_siglip

    return make_tiny_siglip(tmp_path_factory.mktemp("presets") / "siglip_tiny")
