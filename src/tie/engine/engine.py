"""Where the heavy steps run: section `compute` of params.yaml (`engine: local | ray`).

The section says how to compute, never what: both engines write byte-identical features
and the same CCA statistics (to rounding), so no stage declares `compute` as a DVC param
and changing it leaves every cached result valid (`dvc status` stays clean). Stages read
it with `load_engine`, outside the params DVC tracks, and hand the `Engine` to the step
they run (`tie.image.extract.extract_images`, `tie.text.features.write_caption_features`,
`tie.joint.fit.fit_joint_space`), which runs here or calls its Ray version beside it
(`tie.image.ray`, `tie.text.ray`, `tie.moments.ray`). With `engine: local` (the default)
Ray is never imported.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tie.config.params import PARAMS_FILE, read_section
from tie.config.schema import Compute


@dataclass(frozen=True)
class Engine:
    """The `compute` section, checked: `engine` (`local` | `ray`) and the Ray settings;
    None: this process (`LOCAL`).

    Examples
    --------
    >>> engine = LOCAL
    >>> engine.on_ray
    False
    >>> with engine.session():
    ...     pass
    """

    compute: Compute | None = None

    @property
    def on_ray(self) -> bool:
        return self.compute is not None and self.compute.engine == "ray"

    @contextmanager
    def session(self):
        """A block in which the engine is ready: a Ray connection for `ray`, nothing here."""
        if not self.on_ray:
            yield
            return
        from tie.engine.ray import ray_session

        with ray_session(self.compute):
            yield


LOCAL = Engine()


def load_engine(path: str | Path = PARAMS_FILE) -> Engine:
    """The engine of params.yaml's `compute` section (stages call `load_params` first)."""
    return Engine(read_section("compute", path))
