"""`fisher.store: codes` (compact Fisher vectors) gives the dense file's CCA and metrics.

On a copy of the tiny demo, for each mixture: the pipeline with the compact file (the
default), then the `moments` and `cca` stages again on the Ray engine reading that compact
file, then the pipeline with `fisher.store: dense` on the local engine; the canonical
correlations, the projection weights and the val metrics of the `cca` stage agree to 1e-10
(and, for gmm+hglmm, every metric of `evaluate`), and the compact file is much smaller.
"""

import json
import subprocess

import numpy as np
import pytest
import yaml
from helpers import check_library_example, copy_project, run
from ray_cluster import STARTUP_TIMEOUT_S, cluster_env, namespaces_unavailable
from require import unavailable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEXT = "features/demo/text/glove-fisher.npy"


def set_params(project, **sections):
    """Update sections of `project`'s params.yaml, e.g. fisher={"store": "dense"}."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    for section, values in sections.items():
        params[section] |= values
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_with(project, target, **fisher):
    """Run the pipeline up to `target` with these `fisher` params; its CCA and metrics."""
    set_params(
        project,
        caption_vectors={"pooling": "fisher"},
        fisher={"n_components": 2} | fisher,
        compute={"engine": "local"},
    )
    run(["dvc", "repro", target], project)
    return results_of(project, target), (project / TEXT).stat().st_size


def results_of(project, target):
    """The `cca` stage's model and val metrics (and `evaluate`'s metrics) in `project`."""
    with np.load(project / "models/demo/colorgrid-glove/cca.npz") as arrays:
        results = {name: arrays[name] for name in arrays.files}
    grid = (project / "metrics/cca_grid.csv").read_text().splitlines()[1].split(",")
    results["val_metrics"] = np.array(grid, dtype=float)  # the val split's R@K, both ways
    if target == "evaluate":
        metrics = json.loads((project / "metrics/retrieval.json").read_text())
        results |= {key: np.array(value) for key, value in flat(metrics)}
    return results


def flat(metrics, prefix=""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


# The `moments` stage (the pass Ray runs) and the `cca` stage after it, on the Ray engine
# with `compute.address: ""`: it starts Ray on this machine,
# here in network and PID namespaces of its own (loopback only, as tests/ray_cluster.py's
# local `ray.init()`), with a HOME of its own for Ray's `~/.ray/auth_token`. Chunks of
# 0.25 MB of float64 rows make about 14 Ray tasks of 16 images on the tiny demo, so a
# chunk lost or merged wrongly changes the result.
RAY_CCA = """
ip link set lo up
dvc repro -f -s moments
dvc repro -f -s cca
"""


def cca_on_ray(project, home):
    """Re-run the `moments` and `cca` stages of `project` on a local Ray; its CCA and val
    metrics."""
    set_params(project, compute={"engine": "ray", "address": "", "num_cpus": 1})
    home.mkdir(exist_ok=True)
    result = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", RAY_CCA],
        cwd=project,
        env=cluster_env() | {"HOME": str(home), "TIE_CCA_CHUNK_MB": "0.25"},
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_S + 300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Running stage 'moments'" in output and "Running stage 'cca'" in output
    assert (home / ".ray/auth_token").is_file()  # this stage's own local Ray, not another
    return results_of(project, "cca")


def assert_same(results, expected, label):
    assert results.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(
            results[name], value, rtol=1e-10, atol=1e-10, err_msg=f"{label}: {name}"
        )


def test_compact_fisher_vectors_give_the_dense_results_locally_and_on_ray(demo_project, tmp_path):
    reason = namespaces_unavailable()
    if reason:
        unavailable(f"the local Ray runs in a loopback-only network namespace: {reason}")
    project = copy_project(demo_project, tmp_path / "project")
    for mixture, target in [("gmm", "cca"), ("hglmm", "cca"), ("gmm+hglmm", "evaluate")]:
        compact, compact_size = run_with(project, target, mixture=mixture, store="codes")
        on_ray = cca_on_ray(project, tmp_path / "home")
        dense, dense_size = run_with(project, target, mixture=mixture, store="dense")

        assert_same(compact, dense, f"{mixture}, local")
        assert_same(on_ray, results_of(project, "cca"), f"{mixture}, Ray")
        assert compact_size < dense_size / 4
    check_library_example(project, "red circle")  # the example on Fisher-vector pooling
