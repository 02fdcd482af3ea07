"""MLflow logging: one run per distinct result, and runs of killed processes marked FAILED.

Experiments are model-development experiments (MLflow 3's UI opens them on their runs),
and runs are named by what they are.

Real MLflow, with its sqlite store in a temporary folder; the killed process is a real
process, killed with SIGKILL while `log_evaluation` is copying an artifact.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from helpers import wait_until

from tie.evaluation.tracking import fingerprint, log_evaluation, tag_experiments

METRICS = {
    "image_search": {"R_at_1": 10.0, "median_rank": 4.0},
    "image_annotation": {"R_at_1": 12.0, "median_rank": 3.0},
}
PARAMS = {"dataset": "demo", "text": "glove", "cca": {"reg": 0.001}}


@pytest.fixture(scope="module")
def store_root(tmp_path_factory, mlflow_store_file):
    root = tmp_path_factory.mktemp("repo")
    # the store's tables exist before any other process (creating them takes seconds)
    shutil.copyfile(mlflow_store_file, root / "mlflow.db")
    return root


@pytest.fixture
def store(store_root, monkeypatch):
    """The default store of a repository: <root>/mlflow.db, shared by this module's tests."""
    monkeypatch.chdir(store_root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (store_root / "curve.csv").write_text("k,r\n1,10\n")
    return store_root


def runs(root, experiment_name):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(experiment_name)
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


ENTRY = {  # the evaluate stage's lock entry: what `fingerprint` hashes
    "cmd": "python stages/evaluate.py",
    "deps": [{"path": "curve.csv", "hash": "md5", "md5": "0" * 32}],
    "params": {"params.yaml": PARAMS},
}


def test_the_same_result_is_logged_once(store):
    result = fingerprint(ENTRY)
    first, new = log_evaluation("once", PARAMS, METRICS, [store / "curve.csv"], None, result)
    assert new
    again, new = log_evaluation("once", PARAMS, METRICS, [store / "curve.csv"], None, result)
    assert (again, new) == (first, False)
    assert [r.info.run_id for r in runs(store, "once")] == [first]

    # Another dep content: another result.
    other = fingerprint(ENTRY | {"deps": [{"path": "curve.csv", "hash": "md5", "md5": "1" * 32}]})
    assert other != result
    assert fingerprint(ENTRY | {"params": {"params.yaml": PARAMS | {"text": "x"}}}) != result
    assert fingerprint(ENTRY | {"cmd": "python stages/evaluate.py --other"}) != result
    second, new = log_evaluation("once", PARAMS, METRICS, [store / "curve.csv"], None, other)
    assert new and len(runs(store, "once")) == 2


KILLED_LOGGER = """
import sys
from pathlib import Path
from tie.evaluation.tracking import log_evaluation
metrics = {"image_search": {"R_at_1": 1.0}, "image_annotation": {"R_at_1": 2.0}}
log_evaluation("demo", {"text": "glove"}, metrics, [Path("blocking")], None, "abc")
"""


def test_a_run_left_running_by_a_killed_process_is_failed_by_the_next_logging(store):
    os.mkfifo(store / "blocking")  # copying it as an artifact blocks until it is written
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    logger = subprocess.Popen([sys.executable, "-c", KILLED_LOGGER], cwd=store, env=env)

    def blocked_on_the_artifact():
        assert logger.poll() is None, "the logger exited before it was killed"
        logged = runs(store, "demo")
        return logged and logged[0].data.metrics  # metrics logged: the artifact is next

    try:
        wait_until(blocked_on_the_artifact, 120, "the logger's run and its metrics")
        assert logger.poll() is None
    finally:
        logger.send_signal(signal.SIGKILL)
        logger.wait()
    [killed] = runs(store, "demo")
    assert killed.info.status == "RUNNING"

    # The same fingerprint as the killed run's: it did not finish, so it is logged anew.
    run_id, new = log_evaluation("demo", PARAMS, METRICS, [store / "curve.csv"], None, "abc")
    by_id = {r.info.run_id: r.info.status for r in runs(store, "demo")}
    assert new and by_id == {killed.info.run_id: "FAILED", run_id: "FINISHED"}


def experiment_kind(root, name):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return client.get_experiment_by_name(name).tags.get("mlflow.experimentKind")


def test_experiments_open_on_their_runs_named_by_what_they_are(store, monkeypatch):
    import mlflow

    params = {"dataset": "demo", "image": "colorgrid", "text": "glove"}
    params |= {"caption_vectors": {"pooling": "mean"}, "fisher": {"mixture": "hglmm"}}
    curve = [store / "curve.csv"]
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    log_evaluation("kinds", params, METRICS, curve, None, "kinds-1")
    assert experiment_kind(store, "kinds") == "custom_model_development"
    fisher = params | {"caption_vectors": {"pooling": "fisher"}}
    log_evaluation("kinds", fisher, METRICS, curve, None, "kinds-2")
    log_evaluation("kinds", params | {"image": "clip", "text": "clip"}, METRICS, curve, None, "3")
    monkeypatch.setenv("DVC_EXP_NAME", "w2v-idf")
    log_evaluation("kinds", params, METRICS, curve, None, "kinds-4")
    names = {r.info.run_name for r in runs(store, "kinds")}
    assert names == {
        "demo colorgrid+glove mean",
        "demo colorgrid+glove fisher-hglmm",
        "demo clip+clip",
        "w2v-idf",
    }

    # Experiments made before the tag existed get it: when logged to, and by `tie ui`.
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    client.create_experiment("untagged-logged")
    client.create_experiment("untagged-shown")
    log_evaluation("untagged-logged", params, METRICS, curve, None, "kinds-5")
    assert experiment_kind(store, "untagged-logged") == "custom_model_development"
    assert experiment_kind(store, "untagged-shown") is None
    tag_experiments(f"sqlite:///{store / 'mlflow.db'}")
    assert experiment_kind(store, "untagged-shown") == "custom_model_development"


LOG_WHEN_TOLD = """
import sys, time
from pathlib import Path
from tie.evaluation.tracking import log_evaluation
Path(f"ready-{sys.argv[1]}").touch()
while not Path("go").exists():
    time.sleep(0.01)
metrics = {"image_search": {"R_at_1": float(sys.argv[1])}}
print(log_evaluation("together", {"dataset": "demo"}, metrics, [Path("curve.csv")])[0])
"""


@pytest.mark.slow
def test_pipelines_creating_a_new_store_at_once_all_log(tmp_path):
    """Two `dvc exp run` or pipelines starting together: MLflow's migration of a new store
    must not run twice at once (an Alembic CommandError for one of them)."""
    (tmp_path / "curve.csv").write_text("k,r\n1,2\n")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", LOG_WHEN_TOLD, str(i)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    try:  # every process has imported MLflow: start together
        wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == 4, 120, "4 processes ready")
    except BaseException:
        for process in processes:
            process.kill()
            process.communicate()
        raise
    (tmp_path / "go").touch()
    results = [p.communicate(timeout=300) for p in processes]
    for process, (_, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err[-2000:]
    assert len({out.strip() for out, _ in results}) == 4  # four runs


def test_the_runs_view_shows_recall_of_both_directions_then_rsum():
    from tie.evaluation.tracking import runs_view

    keys = [
        "image_annotation/R_at_20", "image_search/R_at_1_low", "rsum", "image_search/R_at_20",
        "image_search/median_rank", "image_annotation/R_at_1", "image_search/R_at_1",
        "image_search/R_at_5",
    ]  # fmt: skip
    columns = [
        "metrics.`image_search/R_at_1`", "metrics.`image_search/R_at_5`",
        "metrics.`image_search/R_at_20`", "metrics.`image_annotation/R_at_1`",
        "metrics.`image_annotation/R_at_20`", "metrics.`rsum`",
    ]  # fmt: skip
    assert json.loads(runs_view(keys)) == {"selectedColumns": columns, "columnOrder": columns}
