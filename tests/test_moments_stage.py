"""The `moments` stage: a change of a `cca` param re-runs the solve (`cca`), never the pass
over the data (`moments`), whose output DVC keeps; a change of the features re-runs both."""

import pytest
from helpers import copy_project, run

pytestmark = pytest.mark.e2e


def test_a_cca_param_reruns_the_solve_only(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    (folder,) = (project / "features/demo/moments").iterdir()
    written = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert {"moments.json", "xx.npy", "yy.npy", "xy.npy", "x_mean.npy", "y_mean.npy"} <= set(
        written
    )
    for change in ("cca.reg=0.05", "cca.n_components=16", "cca.scale_power=3"):
        _, out = run(["dvc", "exp", "run", "-S", change], project)
        assert "Stage 'moments' didn't change, skipping" in out, out
        assert "Running stage 'moments'" not in out
        assert "Running stage 'cca'" in out
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == written
    _, status = run(["dvc", "status", "moments"], project)
    assert "Data and pipelines are up to date." in status, status

    # Other caption features: the moments are computed again, before the solve.
    change = ["-S", "caption_vectors.pooling=mean", "-S", "caption_vectors.common_components=1"]
    _, out = run(["dvc", "exp", "run", *change], project)
    assert "Running stage 'moments'" in out, out
    assert out.index("Running stage 'moments'") < out.index("Running stage 'cca'")
