"""`tie ui` (what `make ui` runs): the MLflow UI with one worker, announced once it answers.

SIGINT (Ctrl-C, which a terminal sends to the whole foreground process group) and SIGTERM
(`kill`, a supervisor) stop it and every process it started, quietly, with the port free.
In a real browser (tests/browser.py), the page it announces leads to the runs, by name.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from browser import offline_page
from helpers import copy_project, free_port, run, wait_until

STARTUP_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60
TIE = str(Path(sys.executable).parent / "tie")


def descendants(pid):
    """{pid: command line} of every process below `pid`, from /proc."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), cmdline))
    found, todo = {}, [pid]
    while todo:
        for child, cmdline in children.get(todo.pop(), []):
            found[child] = cmdline
            todo.append(child)
    return found


def start_ui(root, port, stderr, links=0):
    """`tie ui` as a terminal's foreground job (a process group of its own).

    Returns the process and its announcement: the URL line and `links` lines after it.
    """
    ui = subprocess.Popen(
        [TIE, "ui", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
        # Ctrl-C as in a terminal: a test run started in the background by a script
        # inherits SIGINT ignored (POSIX), and so would `tie ui`.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    line = ui.stdout.readline()
    while line and not line.startswith("MLflow UI:") and time.monotonic() < deadline:
        line = ui.stdout.readline()
    line += "".join(ui.stdout.readline() for _ in range(links) if line)
    # Whatever follows on the pipe is kept in `ui.rest` (read on: a full pipe would block).
    ui.rest = []
    threading.Thread(target=lambda: ui.rest.append(ui.stdout.read()), daemon=True).start()
    return ui, line


def assert_stopped_quietly(ui, processes, port, stderr_file):
    """Exit 0, none of its processes left (those alive before), the port free, no traceback."""
    assert ui.wait(timeout=STOP_TIMEOUT_S) == 0
    wait_until(
        lambda: not [p for p in processes if Path(f"/proc/{p}").exists()],
        10,
        f"the processes of `tie ui` to end: {processes}",
    )
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        s.bind(("127.0.0.1", port))  # nothing listens on the port
    errors = Path(stderr_file).read_text()
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors


def kill_all(ui, processes):
    """After a failed test: no process of `tie ui` left (itself, its processes now and before)."""
    for pid in [*descendants(ui.pid), *processes, ui.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ui.wait()


@pytest.mark.e2e
def test_ui_answers_when_announced_with_one_worker_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        ui, line = start_ui(tmp_path, port, err)
    processes = {}
    try:
        assert line == f"MLflow UI: {url} (Ctrl-C to stop; the server's log: mlflow-ui.log)\n"
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            assert response.status == 200  # up when announced, not later
        assert (tmp_path / "mlflow.db").is_file()  # the project's own store

        processes = descendants(ui.pid)
        assert not [p for p in processes.values() if "huey" in p], processes
        assert len(processes) <= 2, processes  # `mlflow server` and its one uvicorn process

        code, out = run([TIE, "ui", "--port", str(port)], tmp_path, check=False)
        assert code != 0 and f"something already listens on {url}" in out

        os.killpg(ui.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        assert_stopped_quietly(ui, processes, port, stderr)
        # The server's start-up and access log went to its file, not the terminal.
        assert "/health" in (tmp_path / "mlflow-ui.log").read_text()
        wait_until(lambda: ui.rest, 10, "the end of the output of `tie ui`")
        assert ui.rest == [""], ui.rest
        assert not stderr.read_text().strip(), stderr.read_text()
    finally:
        kill_all(ui, processes)


@pytest.mark.e2e
def test_ui_stops_its_server_and_workers_on_sigterm(tmp_path):
    port = free_port()
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        ui, line = start_ui(tmp_path, port, err)
    processes = {}
    try:
        assert line.startswith("MLflow UI:"), stderr.read_text()
        processes = descendants(ui.pid)
        assert processes  # the server and its worker, to be stopped with `tie ui`
        ui.send_signal(signal.SIGTERM)  # `kill <pid>`: to `tie ui` alone
        assert_stopped_quietly(ui, processes, port, stderr)
    finally:
        kill_all(ui, processes)


def mlflow_experiment_id(root, name):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return client.get_experiment_by_name(name).experiment_id


@pytest.mark.e2e
def test_the_announced_page_lists_the_runs_by_name_in_a_browser(demo_project, tmp_path):
    """The demo's run, named by what it is, on the page `tie ui` announces for its experiment."""
    root = copy_project(demo_project, tmp_path / "project")
    port = free_port()
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        ui, line = start_ui(root, port, err, links=1)
    processes = {}
    try:
        assert line.startswith("MLflow UI: "), stderr.read_text()
        processes = descendants(ui.pid)
        experiment_id = mlflow_experiment_id(root, "demo")
        runs_url = f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs"
        view = "workflowType=machine_learning&viewStateShareKey=tie-recall"
        assert line.splitlines()[1] == f"  runs of demo: {runs_url}?{view}"
        with offline_page(allowed_origin=f"http://127.0.0.1:{port}") as browser:
            page = browser.page
            page.goto(line.split()[-1])
            try:
                page.get_by_text("demo colorgrid+glove mean", exact=True).wait_for()
            finally:
                page.screenshot(path=str(tmp_path / "runs.png"))
            assert page.get_by_text("1 matching run").is_visible()
        ui.send_signal(signal.SIGTERM)
        assert_stopped_quietly(ui, processes, port, stderr)
    finally:
        kill_all(ui, processes)


@pytest.mark.e2e
def test_the_announced_page_shows_the_recall_columns_without_choosing_them(demo_project, tmp_path):
    """The runs table on the page `tie ui` links to shows R@1 ... of both directions and
    rsum, with no click on Columns (MLflow shows no metric column by default)."""
    root = copy_project(demo_project, tmp_path / "project")
    port = free_port()
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        ui, line = start_ui(root, port, err, links=1)
    processes = {}
    try:
        assert line.startswith("MLflow UI: "), stderr.read_text()
        processes = descendants(ui.pid)
        screen = (1920, 1080)
        with offline_page(allowed_origin=f"http://127.0.0.1:{port}", viewport=screen) as browser:
            page = browser.page
            page.goto(line.split()[-1])
            try:
                page.get_by_text("demo colorgrid+glove mean", exact=True).wait_for()
                for metric in ("image_search/R_at_1", "image_annotation/R_at_1", "rsum"):
                    header = page.get_by_role("columnheader", name=metric, exact=True)
                    header.first.wait_for()
                    assert header.first.is_visible()
                # the run's value in the table, as logged: the demo's R@1 of image search
                metrics = json.loads((root / "metrics/retrieval.json").read_text())
                value = metrics["image_search"]["R_at_1"]
                assert page.get_by_role("gridcell", name=f"{value:g}").first.is_visible()
            finally:
                page.screenshot(path=str(tmp_path / "runs.png"))
        ui.send_signal(signal.SIGTERM)
        assert_stopped_quietly(ui, processes, port, stderr)
    finally:
        kill_all(ui, processes)
