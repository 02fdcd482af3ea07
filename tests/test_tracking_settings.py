"""tie.evaluation.tracking changes nothing of the process when imported: MLflow's settings
(environment, SQLite's busy wait, its database logger) hold while a run is logged, and are
put back after. Real MLflow, with its sqlite store in a temporary folder."""

import json
import logging
import os
import subprocess
import sys

IMPORT = """
import json, logging, os
before = dict(os.environ)
level = logging.getLogger("mlflow.store.db.utils").level
import tie.evaluation.tracking
import sqlalchemy
from tie.evaluation.tracking import _wait_when_busy
print(json.dumps({
    "changed": sorted(k for k in {*before, *os.environ} if before.get(k) != os.environ.get(k)),
    "listening": sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _wait_when_busy),
    "level": logging.getLogger("mlflow.store.db.utils").level == level,
}))
"""


def test_importing_the_tracker_changes_nothing():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    result = subprocess.run(
        [sys.executable, "-c", IMPORT], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == {"changed": [], "listening": False, "level": True}


def test_mlflows_settings_hold_while_a_run_is_logged_then_are_put_back(
    tmp_path, monkeypatch, copy_store
):
    import sqlalchemy

    from tie.evaluation.tracking import (
        MLFLOW_DEFAULTS,
        _wait_when_busy,
        log_evaluation,
        mlflow_settings,
    )

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    store = copy_store(tmp_path)  # its tables exist: the subject is logging, not creating
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    for name in MLFLOW_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")  # the user's own: kept
    db_logger = logging.getLogger("mlflow.store.db.utils")
    level = db_logger.level
    before = dict(os.environ)

    with mlflow_settings():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
        assert sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _wait_when_busy)
        assert db_logger.level == logging.CRITICAL
    metrics = {"image_search": {"R_at_1": 1.0}, "image_annotation": {"R_at_1": 2.0}}
    (tmp_path / "curve.csv").write_text("k,r\n1,1\n")
    _, logged = log_evaluation("settings", {"dataset": "demo"}, metrics, [tmp_path / "curve.csv"])
    assert logged
    assert dict(os.environ) == before
    assert not sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _wait_when_busy)
    assert db_logger.level == level
