import contextlib
import os
from pathlib import Path

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
def mlflow_store_file(tmp_path_factory):
    """An empty MLflow sqlite store (its tables, no run), made once per session: creating
    the tables takes seconds, so tests whose subject is not the store's creation start
    from a copy (`copy_store`)."""
    import mlflow

    store = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}").search_experiments()
    return store


@pytest.fixture
def copy_store(mlflow_store_file):
    """copy_store(folder): a copy of the session's store as `folder`/mlflow.db, returned."""
    import shutil

    def copy(folder):
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(mlflow_store_file, folder / "mlflow.db"))

    return copy


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


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """serve(folder, mirror=True): `folder` on a real HTTP server on 127.0.0.1 for this test
    (tests/local_http_server.py), returned; stopped after the test.

    With `mirror`, every download is pointed at it (TIE_DOWNLOAD_MIRROR); without, at no
    mirror whatever the environment says. Word vectors are cached in `tmp_path / "cache"`,
    empty at first.
    """
    from local_http_server import LocalServer

    from tie.download import MIRROR_ENV
    from tie.text.pretrained import WORD_VECTORS_DIR_ENV

    monkeypatch.setenv(WORD_VECTORS_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with contextlib.ExitStack() as servers:

        def start(folder, mirror=True):
            server = servers.enter_context(LocalServer(folder))
            if mirror:
                monkeypatch.setenv(MIRROR_ENV, server.url)
            return server

        yield start
