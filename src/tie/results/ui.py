"""`tie ui`: the MLflow UI on the project's own store, up in seconds.

`mlflow server` starts 4 web workers by default, and a job runner (huey) with several
more processes; a UI on one laptop needs neither, and together they take tens of seconds
to answer. Here it runs with one worker and no job runner, and the URL is printed once
the server answers, with a link to each experiment's runs (`RUNS_PAGE`).

The server's start-up and access log go to `LOG_FILE` in the repository (git-ignored),
not the terminal, so the URL stays in sight; an error names the file and shows its end.

The server runs in a process group of its own, so a Ctrl-C in the terminal reaches only
`tie ui`, not the server (which would print a traceback of its own). SIGINT and SIGTERM
to `tie ui` stop the whole group (the server and its web worker), then `tie ui` exits 0,
quietly, with the port free.

Experiments of the store logged before `tie.evaluation.tracking` tagged them as model development
are tagged first (the MLflow 3 releases that read the tag then open them on their runs).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tie.errors import TieError
from tie.evaluation.tracking import (
    MLFLOW_DEFAULTS,
    RUNS_VIEW_KEY,
    default_tracking_uri,
    reading_store,
    tag_experiments,
)

STARTUP_TIMEOUT_S = 120
# An experiment's runs. MLflow 3.17's UI opens on its GenAI views (traces) unless the URL or
# the sidebar's "GenAI | Model training" switch says otherwise; earlier MLflow 3 releases
# read the experiment's kind tag instead (tie.evaluation.tracking).
# The page opens on the view with the R@K columns shown (`tracking.RUNS_VIEW_KEY`).
RUNS_PAGE = (
    "/#/experiments/{id}/runs?workflowType=machine_learning&viewStateShareKey=" + RUNS_VIEW_KEY
)
STOP_TIMEOUT_S = 20  # a server still up after SIGTERM for this long gets SIGKILL
LOG_FILE = "mlflow-ui.log"  # the server's output, in the repository's root
LOG_TAIL_LINES = 5  # of it in an error


def server_command(root: Path, host: str, port: int) -> list[str]:
    """`mlflow server` on `root`'s store (mlflow.db, artifacts in mlartifacts/)."""
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    return [
        mlflow, "server",
        "--backend-store-uri", default_tracking_uri(root),
        "--default-artifact-root", (root / "mlartifacts").as_uri(),
        "--host", host, "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


def serve(root: Path, host: str, port: int, announce=print) -> None:
    """Run the UI until SIGINT (Ctrl-C) or SIGTERM; `announce` gets the URL once it answers."""
    url = f"http://{host}:{port}"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise TieError(
            f"--host {host}: not an address or a name this machine resolves ({reason}); use"
            " 127.0.0.1 (this machine only) or one of this machine's addresses"
        ) from None
    with socket.socket() as probe:
        if probe.connect_ex((host, port)) == 0:
            raise TieError(
                f"something already listens on {url} (an MLflow UI started before?):"
                " open it, stop it, or choose another port (`make ui UI_PORT=5001`)"
            )
    experiments = {}
    if (root / "mlflow.db").exists():  # and experiments logged before they were tagged
        with reading_store(default_tracking_uri(root)):
            experiments = tag_experiments(default_tracking_uri(root))
    env = MLFLOW_DEFAULTS | os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log_path = root / LOG_FILE
    with log_path.open("w") as log:
        server = subprocess.Popen(
            server_command(root, host, port),
            env=env,
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    handlers = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _wait_until_up(server, url, log_path)
        announce(f"MLflow UI: {url} (Ctrl-C to stop; the server's log: {LOG_FILE})")
        for name, experiment_id in experiments.items():
            announce(f"  runs of {name}: {url}{RUNS_PAGE.format(id=experiment_id)}")
        server.wait()
    except _StopRequested:
        pass
    finally:
        for sig in handlers:  # a second Ctrl-C does not interrupt the stopping
            signal.signal(sig, signal.SIG_IGN)
        _stop_group(server)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


class _StopRequested(Exception):
    """SIGINT or SIGTERM arrived: stop the server."""


def _stop(signum, _frame):
    raise _StopRequested(signal.Signals(signum).name)


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group; SIGKILL if it lingers; reap the server."""
    for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break  # no process of the group is left
        deadline = time.monotonic() + timeout
        while _group_alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _group_alive(server):
            break
    server.wait()


def _group_alive(server: subprocess.Popen) -> bool:
    """Whether a process of the server's group still runs (the server itself once reaped)."""
    server.poll()
    try:
        os.killpg(server.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _log_tail(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
    return " | ".join(line.strip() for line in lines) or "(empty)"


def _wait_until_up(server: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if server.poll() is not None:
            raise TieError(
                f"mlflow server stopped (exit code {server.returncode}); the end of its log"
                f" {log_path}: {_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise TieError(f"mlflow server did not answer on {url} in {STARTUP_TIMEOUT_S} s")
        time.sleep(0.2)
