"""Helpers shared by the end-to-end tests: run a command, make a tiny project copy."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_DEMO = {"n_train": 150, "n_val": 20, "n_test": 50, "image_size": 96, "seed": 0}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, cwd, check=True, env=None):
    """Run a command with the venv's tools first on PATH; fail the test if it fails.

    The local MLflow store is used unless `env` (extra variables) sets another.
    """
    full_env = dict(os.environ)
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env['PATH']}"
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env |= {
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    full_env |= env or {}
    result = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{output}")
    return result.returncode, output


def copy_repo(root):
    """Copy the repository's files (tracked, or untracked and not ignored) into `root`.

    Results of the developer's own runs (dvc.lock, metrics) are left behind.
    """
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    results = ("retrieval.json", "recall_at_k.csv", "cca_grid.csv", "cca_selection.json")
    for stale in ("dvc.lock", *(f"metrics/{name}" for name in results)):
        (root / stale).unlink(missing_ok=True)


def make_project(root, env=None):
    """A fresh clone-like copy of the repo in `root` with a tiny demo, after `dvc repro`.

    The copy is a git repo of its own, so a test never touches the developer's
    workspace, cache or MLflow store.
    """
    copy_repo(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params |= {"dataset": "demo", "text": "glove", "image": "colorgrid", "demo": TINY_DEMO}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    run(["git", "init", "-q", "-b", "main"], root)
    run(["dvc", "repro"], root, env=env)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "baseline"], root)
    return root
