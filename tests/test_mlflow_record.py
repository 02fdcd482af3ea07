"""The MLflow run of an evaluation is identified by, and labelled with, the run's record:
the entry DVC writes in dvc.lock for the evaluate stage (its deps' content, its params),
never the current params.yaml nor the modules a process happened to import.

Real DVC and MLflow on a copy of the session's tiny demo.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml
from helpers import copy_project, run

pytestmark = pytest.mark.e2e


def mlflow_runs(root):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def logged_metrics(run_):
    return {k: v for k, v in run_.data.metrics.items() if k.startswith("image_")}


def file_metrics(project):
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    return {
        f"{direction}/{name}": value
        for direction in ("image_search", "image_annotation")
        for name, value in metrics[direction].items()
    }


DROPPED_DIMENSIONS = """\
    model = CCA.load(directory)
    transform_captions = model.transform_captions

    def dropped(Y):
        captions = transform_captions(Y)
        captions[:, :2] = 0
        return captions

    model.transform_captions = dropped
    return model
"""


def test_a_library_change_evaluate_reruns_for_is_a_new_mlflow_run(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    [before] = mlflow_runs(project)
    grid = (project / "metrics/cca_grid.csv").read_bytes()
    # A change of tie.joint that evaluate imports (the cca stage does not) and that moves
    # the numbers: the model loaded for evaluation drops the first two joint dimensions of
    # every caption. The cca stage's outputs stay the same; DVC re-runs evaluate (src/tie/joint
    # is its dep), and its new numbers must reach MLflow as a new run.
    space = project / "src/tie/joint/space.py"
    code = space.read_text()
    original = "    return CCA.load(directory)\n"
    assert original in code
    space.write_text(code.replace(original, DROPPED_DIMENSIONS))
    # The stages import the copy's own library (not the one of the checkout under test).
    _, out = run(["dvc", "repro"], project, env={"PYTHONPATH": str(project / "src")})
    assert "Running stage 'evaluate'" in out
    assert (project / "metrics/cca_grid.csv").read_bytes() == grid  # cca's result: the same
    runs = mlflow_runs(project)
    assert len(runs) == 2, out
    new = runs[-1]
    assert new.info.run_id != before.info.run_id
    assert logged_metrics(new) == pytest.approx(file_metrics(project))
    assert logged_metrics(new) != logged_metrics(before)


def test_logged_params_are_the_records_not_params_yaml(demo_project, tmp_path):
    """A param no stage declares (compute.*) is not logged; the record's values are, and a
    params.yaml edited after the run changes nothing of what was logged."""
    project = copy_project(demo_project, tmp_path / "project")
    [logged] = mlflow_runs(project)
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    cca = lock["cca"]["params"]["params.yaml"]["cca"]
    assert logged.data.params["cca.n_components"] == str(cca["n_components"])
    assert logged.data.params["eval.split"] == "test"
    assert not any(name.startswith("compute.") for name in logged.data.params)


FINGERPRINT = """
import importlib, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
from tie.config.lock import running_entry
from tie.evaluation.tracking import fingerprint
print(fingerprint(running_entry("evaluate")))
"""


def test_the_fingerprint_does_not_depend_on_what_the_process_imported(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    env = {"PYTHONPATH": str(project / "src")}

    def fingerprint(*modules):
        result = subprocess.run(
            [sys.executable, "-c", FINGERPRINT, *modules],
            cwd=project,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=True,
        )
        return result.stdout.strip()

    first = fingerprint()
    assert first == fingerprint("tie.joint.space", "tie.features.store", "tie.evaluation.report")
    [logged] = mlflow_runs(project)
    assert logged.data.tags["tie.fingerprint"] == first  # what the stage computed too
