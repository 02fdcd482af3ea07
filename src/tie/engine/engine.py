"""Where the heavy steps run: section `compute` of params.yaml (`engine: local | ray`).

The section says how to compute, never what: both engines write byte-identical features
and the same CCA statistics (to rounding), so no stage declares `compute` as a DVC param
and changing it leaves every cached result valid (`dvc status` stays clean). Stages read
it with `load_compute`, outside the params DVC tracks. With `engine: local` (the default)
Ray is never imported; with `ray`, see `tie.engine.ray`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from tie.config.params import PARAMS_FILE, read_params
from tie.config.schema import Compute


def load_compute(path: str | Path = PARAMS_FILE) -> dict:
    """Section `compute` of params.yaml, checked (stages call `load_params` first)."""
    return Compute.model_validate(read_params(path)["compute"]).model_dump()


@contextmanager
def compute_session(compute: dict):
    """A block in which the engine is ready: a Ray connection for `ray`, nothing for local."""
    if compute["engine"] != "ray":
        yield
        return
    from tie.engine.ray import ray_session

    with ray_session(compute):
        yield
