"""`fisher.store: codes` (compact Fisher vectors) gives the dense file's CCA and metrics.

On a copy of the tiny demo, for each mixture: the pipeline with the compact file (the
default), then with `fisher.store: dense`; the canonical correlations, the projection
weights and every retrieval metric agree to 1e-10, and the compact file is smaller.
"""

import json

import numpy as np
import pytest
import yaml
from helpers import copy_project, run

pytestmark = pytest.mark.e2e

TEXT = "features/demo/text/glove-fisher.npy"


def run_with(project, **fisher):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["caption_vectors"]["pooling"] = "fisher"
    params["fisher"] |= {"n_components": 2} | fisher
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", "evaluate"], project)
    with np.load(project / "models/demo/colorgrid-glove/cca.npz") as arrays:
        model = {name: arrays[name] for name in arrays.files}
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    return model, metrics, (project / TEXT).stat().st_size


def flat(metrics, prefix=""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("mixture", ["gmm", "hglmm", "gmm+hglmm"])
def test_compact_fisher_vectors_give_the_dense_results(demo_project, tmp_path, mixture):
    project = copy_project(demo_project, tmp_path / "project")
    compact = run_with(project, mixture=mixture, store="codes")
    dense = run_with(project, mixture=mixture, store="dense")

    for name, expected in dense[0].items():
        np.testing.assert_allclose(compact[0][name], expected, rtol=1e-10, atol=1e-10)
    got, expected = dict(flat(compact[1])), dict(flat(dense[1]))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-10, abs=1e-10), key
    assert compact[2] < dense[2] / 4
