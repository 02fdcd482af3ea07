"""A stage re-runs for the params its outputs depend on under the chosen options only."""

import pytest
import yaml
from helpers import copy_project, run

pytestmark = pytest.mark.e2e


def set_params(project, section, **values):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section] |= values
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_fisher_param_under_mean_pooling_reruns_only_the_mixture_note(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    set_params(project, "fisher", n_components=7, mixture="hglmm", normalize=False)
    _, status = run(["dvc", "status"], project)
    assert "mixture:" in status and "text_features:" not in status, status
    _, out = run(["dvc", "repro"], project)
    assert "Running stage 'mixture'" in out
    for stage in ("text_features", "moments", "cca", "evaluate"):
        assert f"Running stage '{stage}'" not in out, out
    _, status = run(["dvc", "status"], project)
    assert "up to date" in status
