"""The local MLflow store when another process writes to it, or it cannot be written."""

import os
import shutil
import subprocess
import sys

import pytest
from require import unavailable

from tie.errors import TieError
from tie.evaluation.tracking import failure_message, log_evaluation
from tie.redact import redact

METRICS = {"image_search": {"R_at_1": 50.0}, "image_annotation": {"R_at_1": 40.0}}
HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")  # a write transaction, held
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory, mlflow_store_file):
    """A repo root whose default store exists (a copy of the session's: creating its tables
    takes seconds)."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copyfile(mlflow_store_file, root / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_ROOT", str(root))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        log_evaluation("demo", {"a": 1}, METRICS, [])
    return root


@pytest.fixture
def store(root, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root / "mlflow.db"


def hold_lock(db, seconds):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_short_lock_is_waited_for(store):
    holder = hold_lock(store, 2)
    try:
        assert log_evaluation("demo", {"a": 2}, METRICS, [])
    finally:
        holder.wait(timeout=30)


@pytest.mark.slow
def test_a_held_lock_fails_in_one_line_with_the_root_cause(store, capfd):
    holder = hold_lock(store, 600)
    try:
        with pytest.raises(TieError) as failure:
            log_evaluation("demo", {"a": 3}, METRICS, [])
    finally:
        holder.kill()
        holder.wait()
    message = str(failure.value)
    assert message.startswith(f"could not log the run to MLflow at sqlite:///{store}: ")
    assert "database is locked. The metrics file is written only once the run is logged." in (
        message
    )
    assert "Another process holds a write transaction on this local store" in message
    assert "\n" not in message and "tracking server" not in message
    assert "Traceback" not in capfd.readouterr().err


def test_a_read_only_store_says_so_with_advice_for_a_local_store(store, monkeypatch, tmp_path):
    read_only = f"sqlite:///file:{store}?mode=ro&uri=true"  # SQLite opens it read-only
    monkeypatch.setenv("MLFLOW_TRACKING_URI", read_only)
    monkeypatch.chdir(tmp_path)  # the lock goes beside the store, not under ./file:/
    with pytest.raises(TieError) as failure:
        log_evaluation("demo", {"a": 4}, METRICS, [])
    message = str(failure.value)
    assert f"{read_only}: attempt to write a readonly database." in message
    assert "make the database file and its folder writable" in message
    assert "\n" not in message and "autoflush" not in message
    assert not list(tmp_path.rglob("*.lock"))  # not under a folder `file:` here
    assert store.with_name(store.name + ".lock").exists()


LOG_ONCE = """
from tie.errors import TieError
from tie.evaluation.tracking import log_evaluation
metrics = {"image_search": {"R_at_1": 50.0}, "image_annotation": {"R_at_1": 40.0}}
try:
    log_evaluation("demo", {"a": 5}, metrics, [])
except TieError as error:
    print(error)
"""
SHOW_FOLDER = """
import os
print("folder:", sorted(os.listdir(os.environ["DVC_ROOT"])))
"""
# The store file alone mounted read-only (its folder stays writable, as with mode 444).
READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" -c "$3"'


def test_a_store_file_without_write_permission(store, tmp_path):
    if os.geteuid() != 0:
        store.chmod(0o444)
        try:
            with pytest.raises(TieError, match="attempt to write a readonly database"):
                log_evaluation("demo", {"a": 5}, METRICS, [])
        finally:
            store.chmod(0o644)
        return
    # Root writes a file whatever its mode (as CI runs): the store file is mounted read-only
    # instead, in a mount namespace of the logging process's own.
    copy = tmp_path / "mlflow.db"
    shutil.copy(store, copy)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env |= {"DVC_ROOT": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    command = ["unshare", "--mount", "sh", "-c", READ_ONLY_MOUNT, "sh", str(copy)]
    result = subprocess.run(
        [*command, sys.executable, LOG_ONCE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.stderr.startswith(("unshare:", "mount:")):  # the logging never started
        unavailable(f"root cannot mount the store read-only here: {result.stderr.strip()}")
    assert "attempt to write a readonly database" in result.stdout, result.stderr[-2000:]


def test_credentials_are_stripped_from_every_uri():
    text = "at http://alice:pa55word@host:5000/api and s3://key:secret@bucket/x, sqlite:///a.db"
    assert redact(text) == "at http://host:5000/api and s3://bucket/x, sqlite:///a.db"
    error = RuntimeError("API request to http://alice:pa55word@host:5000/api failed")
    message = failure_message(error, "http://alice:pa55word@host:5000")
    assert "pa55word" not in message and "alice" not in message
    assert message.startswith("could not log the run to MLflow at http://host:5000: API request")


def test_every_command_line_error_is_printed_without_credentials():
    import click
    from click.testing import CliRunner

    from tie.commands import Command

    @click.command(cls=Command)
    def stage():
        raise TieError("cannot reach remote s3://AKIA123:s3cr3t@bucket/cache: timed out")

    result = CliRunner().invoke(stage)
    assert result.exit_code == 1
    assert result.output == "Error: cannot reach remote s3://bucket/cache: timed out\n"


# A new store's creation on a disk that fills during MLflow's migrations (a real tmpfs of
# 800 kB: a whole store takes about 930 kB), then the same disk with room to spare.
FILL_THEN_GROW = (
    'mount -t tmpfs -o size=800k tmpfs "$1" && "$2" -c "$3"'
    ' && mount -o remount,size=20m "$1" && exec "$2" -c "$3"'
)


def test_a_store_whose_creation_filled_the_disk_is_not_left_half_made(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env |= {"DVC_ROOT": str(disk), "PYTHONPATH": os.pathsep.join(sys.path)}
    command = ["unshare", "--mount", "sh", "-c", FILL_THEN_GROW, "sh", str(disk)]
    result = subprocess.run(
        [*command, sys.executable, LOG_ONCE + SHOW_FOLDER],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.stderr.startswith(("unshare:", "mount:")):  # the logging never started
        unavailable(f"root cannot mount a small tmpfs here: {result.stderr.strip()}")
    full, grown = result.stdout.split("folder: ")[1:]
    assert "database or disk is full" in result.stdout, result.stdout + result.stderr[-2000:]
    assert full.strip() == "['mlflow.db.lock']"  # no store, no part of one
    # with room on the disk, the next run makes the store and logs
    assert grown.strip() == "['mlflow.db', 'mlflow.db.lock']", result.stdout + result.stderr[-2000:]
    assert result.stdout.count("could not log") == 1, result.stdout


def test_a_store_half_made_by_an_earlier_version_says_to_move_it_away(tmp_path):
    """What MLflow says of a store whose migrations stopped half way (made before stores
    were made whole or not at all): `table ... already exists`, on every later run."""
    import sqlite3

    error = sqlite3.OperationalError("table mcp_servers already exists")
    message = failure_message(error, f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert "The store's tables are half made" in message and "move it away" in message
    assert "\n" not in message
