"""The pipeline against a real `mlflow server` on loopback, and against no server at all."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from helpers import copy_project, free_port, run

STARTUP_TIMEOUT_S = 120

pytestmark = pytest.mark.e2e


def get_json(url, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` with its own sqlite store and artifact folder; stopped afterwards."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"), "server",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
            "--artifacts-destination", str(home / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Tracking needs no background job runner (it would start a dozen more processes).
        env=os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        start_new_session=True,  # its workers share its process group, stopped together
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(home / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def project(demo_project, tmp_path_factory, mlflow_server):
    """The demo, its evaluation logged to the server (and no local store)."""
    root = copy_project(demo_project, tmp_path_factory.mktemp("project"), mlflow_store=False)
    run(
        ["dvc", "repro", "--force", "--single-item", "evaluate"],
        root,
        env={"MLFLOW_TRACKING_URI": mlflow_server},
    )
    return root


def test_pipeline_logs_to_the_server(project, mlflow_server):
    assert not (project / "mlflow.db").exists()
    query = urllib.parse.urlencode({"experiment_name": "demo"})
    experiment = get_json(f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?{query}")
    experiment_id = experiment["experiment"]["experiment_id"]
    runs = get_json(
        f"{mlflow_server}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]}
    )["runs"]
    assert len(runs) == 1
    data = runs[0]["data"]
    metrics = {m["key"]: m["value"] for m in data["metrics"]}
    written = json.loads((project / "metrics/retrieval.json").read_text())
    assert metrics["image_search/R_at_1"] == pytest.approx(written["image_search"]["R_at_1"])
    assert metrics["image_annotation/mean_rank"] == pytest.approx(
        written["image_annotation"]["mean_rank"]
    )
    params = {p["key"]: p["value"] for p in data["params"]}
    assert params["text"] == "glove"
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["dvc.experiment"] == "workspace"

    run_id = runs[0]["info"]["run_id"]
    query = urllib.parse.urlencode({"run_id": run_id})
    files = get_json(f"{mlflow_server}/api/2.0/mlflow/artifacts/list?{query}")["files"]
    names = {f["path"] for f in files}
    assert {"recall_at_k.csv", "recall_at_k.png", "gallery.png", "cca.json", "ranks.csv"} <= names


def test_unreachable_server_fails_the_stage_and_leaves_it_undone(project, mlflow_server):
    """No metrics file without its MLflow run: DVC must not report the stage up to date."""
    metrics_file = project / "metrics/retrieval.json"
    recorded = metrics_file.read_text()
    nowhere = f"127.0.0.1:{free_port()}"
    code, out = run(
        ["dvc", "repro", "--force", "--single-item", "evaluate"],
        project,
        check=False,
        env={"MLFLOW_TRACKING_URI": f"http://alice:pa55word@{nowhere}"},
    )
    assert code != 0
    assert f"could not log the run to MLflow at http://{nowhere}: " in out
    assert "pa55word" not in out and "alice" not in out
    assert not metrics_file.exists()
    _, status = run(["dvc", "status", "evaluate"], project)
    assert "deleted:" in status and "metrics/retrieval.json" in status
    code, out = run(["tie", "show"], project, check=False)
    assert code != 0 and "dvc checkout" in out

    # With the server back, the same result is found already logged: no second run.
    server = {"MLFLOW_TRACKING_URI": mlflow_server}
    _, out = run(["dvc", "repro", "--force", "--single-item", "evaluate"], project, env=server)
    assert "already holds this result" in out
    assert metrics_file.read_text() == recorded
    query = urllib.parse.urlencode({"experiment_name": "demo"})
    experiment = get_json(f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?{query}")
    experiment_id = experiment["experiment"]["experiment_id"]
    runs = get_json(
        f"{mlflow_server}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]}
    )["runs"]
    assert len(runs) == 1
