"""`tie ui` (what `make ui` runs): the MLflow UI with one worker, announced once it answers."""

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import free_port, run

STARTUP_TIMEOUT_S = 180


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


@pytest.mark.e2e
def test_ui_answers_when_announced_with_one_worker_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tie = str(Path(sys.executable).parent / "tie")
    ui = subprocess.Popen(
        [tie, "ui", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # Ctrl-C as in a terminal: a test run started in the background by a script
        # inherits SIGINT ignored (POSIX), and so would `tie ui`.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        line = ui.stdout.readline()
        while line and not line.startswith("MLflow UI:") and time.monotonic() < deadline:
            line = ui.stdout.readline()
        assert line == f"MLflow UI: {url} (Ctrl-C to stop)\n"
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            assert response.status == 200  # up when announced, not later
        assert (tmp_path / "mlflow.db").is_file()  # the project's own store

        processes = descendants(ui.pid)
        assert not [p for p in processes.values() if "huey" in p], processes
        assert len(processes) <= 2, processes  # `mlflow server` and its one uvicorn process

        code, out = run([tie, "ui", "--port", str(port)], tmp_path, check=False)
        assert code != 0 and f"something already listens on {url}" in out

        ui.send_signal(signal.SIGINT)
        assert ui.wait(timeout=60) == 0
        time.sleep(1)
        assert not [pid for pid in processes if Path(f"/proc/{pid}").exists()]  # all stopped
    finally:
        if ui.poll() is None:
            ui.kill()
