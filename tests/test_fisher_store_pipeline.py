"""`fisher.store: codes` (compact Fisher vectors) gives the dense file's CCA and metrics.

On a copy of the tiny demo, for each mixture: the pipeline with the compact file (the
default), then with `fisher.store: dense`; the canonical correlations, the projection
weights and the val metrics of the `cca` stage agree to 1e-10 (and, for gmm+hglmm, every
metric of `evaluate`), and the compact file is much smaller.
"""

import json

import numpy as np
import pytest
import yaml
from helpers import check_library_example, copy_project, run

pytestmark = pytest.mark.e2e

TEXT = "features/demo/text/glove-fisher.npy"


def run_with(project, target, **fisher):
    """Run the pipeline up to `target` with these `fisher` params; its CCA and metrics."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["caption_vectors"]["pooling"] = "fisher"
    params["fisher"] |= {"n_components": 2} | fisher
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro", target], project)
    with np.load(project / "models/demo/colorgrid-glove/cca.npz") as arrays:
        results = {name: arrays[name] for name in arrays.files}
    grid = (project / "metrics/cca_grid.csv").read_text().splitlines()[1].split(",")
    results["val_metrics"] = np.array(grid, dtype=float)  # the val split's R@K, both ways
    if target == "evaluate":
        metrics = json.loads((project / "metrics/retrieval.json").read_text())
        results |= {key: np.array(value) for key, value in flat(metrics)}
    return results, (project / TEXT).stat().st_size


def flat(metrics, prefix=""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


def test_compact_fisher_vectors_give_the_dense_results(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    for mixture, target in [("gmm", "cca"), ("hglmm", "cca"), ("gmm+hglmm", "evaluate")]:
        compact, compact_size = run_with(project, target, mixture=mixture, store="codes")
        dense, dense_size = run_with(project, target, mixture=mixture, store="dense")

        assert compact.keys() == dense.keys()
        for name, expected in dense.items():
            np.testing.assert_allclose(
                compact[name], expected, rtol=1e-10, atol=1e-10, err_msg=f"{mixture}: {name}"
            )
        assert compact_size < dense_size / 4
    check_library_example(project, "red circle")  # the example on Fisher-vector pooling
