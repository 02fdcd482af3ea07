"""Helpers shared by the tests: run a command, make a project (or a private copy of one),
wait for a condition with a deadline."""

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PLOTS_PAGE = ".dvc/plots/offline.html"  # .dvc/config's plots.html_template, gitignored
TINY_DEMO = {"n_train": 150, "n_val": 20, "n_test": 50, "image_size": 96, "seed": 0}
# The tests of the pipeline's mechanics (DVC, MLflow, reports) pool captions by their mean:
# fast, and the paths and experiments they check are named after it. The defaults (Fisher
# vectors, chosen on real photos) are run by the real-photo tests and by CI's `dvc repro`.
TEST_POOLING = {"pooling": "mean"}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout_s, what, interval_s=0.05):
    """Poll `condition()` until it is true (returned); fail the test after `timeout_s`.

    `what` says what was waited for, in the failure's message. `condition` may itself
    fail the test (an assert) to stop waiting at once, e.g. when a process died.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(interval_s)


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

    Results of the developer's own runs (dvc.lock, metrics) are left behind; the plots page
    that `make install` builds comes along.
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
    # What `make install` adds to the checkout: the page `dvc plots show` draws offline with.
    if (REPO / PLOTS_PAGE).is_file():
        shutil.copy2(REPO / PLOTS_PAGE, root / PLOTS_PAGE)
    results = (
        *("retrieval.json", "recall_at_k.csv", "cca_grid.csv", "cca_selection.json"),
        "scoring_selection.json",
    )
    for stale in ("dvc.lock", *(f"metrics/{name}" for name in results)):
        (root / stale).unlink(missing_ok=True)


def new_project(root, params=None, commit=True):
    """A clone-like copy of the repo in `root`, a git repo of its own, no stage run yet.

    `params` are set in its params.yaml first: {name: value}, a dict value merged into the
    section of that name. With `commit`, the copy is committed as a fresh clone would be.
    """
    copy_repo(root)
    if params:
        settings = yaml.safe_load((root / "params.yaml").read_text())
        for name, value in params.items():
            if isinstance(value, dict) and isinstance(settings.get(name), dict):
                settings[name] = settings[name] | value
            else:
                settings[name] = value
        (root / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], root)
    if commit:
        run(["git", "add", "-A"], root)
        run(["git", "commit", "-q", "-m", "clone"], root)
    return root


def build_demo_project(root, env=None):
    """A fresh clone-like copy of the repo in `root` with a tiny demo, after `dvc repro`.

    The copy is a git repo of its own, so a test never touches the developer's
    workspace, cache or MLflow store. Tests get it once per session (the `demo_project`
    fixture) and work on copies of it (`copy_project`).
    """
    demo = {"dataset": "demo", "text": "glove", "image": "colorgrid", "demo": TINY_DEMO}
    demo["caption_vectors"] = TEST_POOLING
    new_project(root, demo, commit=False)
    run(["dvc", "repro"], root, env=env)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "baseline"], root)
    return root


def copy_project(project, root, mlflow_store=True):
    """A private copy of a built project in `root`: git, DVC cache and outputs, MLflow store.

    DVC's temporary folder (locks, its file-hash state) is left behind: DVC rebuilds it.
    The MLflow store records absolute artifact locations; the copy's point into the copy.
    Without `mlflow_store` the copy has none, as if its runs had been logged elsewhere.
    """
    skipped = {project / ".dvc/tmp"}
    if not mlflow_store:
        skipped |= {project / "mlflow.db", project / "mlartifacts"}
    root.mkdir(parents=True, exist_ok=True)
    for entry in project.iterdir():
        if entry in skipped:
            continue
        if entry.is_dir():
            shutil.copytree(
                entry, root / entry.name, symlinks=True, ignore=lambda d, _: _skipped(d, skipped)
            )
        else:
            shutil.copy2(entry, root / entry.name)
    if mlflow_store and (root / "mlflow.db").exists():
        _relocate_mlflow_store(root / "mlflow.db", project.as_uri(), root.as_uri())
    return root


def _skipped(folder, skipped):
    return [p.name for p in Path(folder).iterdir() if p in skipped]


def _relocate_mlflow_store(db, old_uri, new_uri):
    """Point a copied sqlite store's artifact locations at the copy's artifact folder."""
    with sqlite3.connect(db) as store:
        store.execute(
            "UPDATE experiments SET artifact_location = replace(artifact_location, ?, ?)",
            (old_uri + "/", new_uri + "/"),
        )
        store.execute(
            "UPDATE runs SET artifact_uri = replace(artifact_uri, ?, ?)",
            (old_uri + "/", new_uri + "/"),
        )
        # MLflow 3's logged models (each evaluate run's joint model) have a location too.
        tables = {row[0] for row in store.execute("SELECT name FROM sqlite_master")}
        if "logged_models" in tables:
            store.execute(
                "UPDATE logged_models SET artifact_location = replace(artifact_location, ?, ?)",
                (old_uri + "/", new_uri + "/"),
            )
    store.close()


class Interrupted:
    """An image encoder with Ctrl-C pressed after `after` batches in all: it raises
    KeyboardInterrupt mid-run, as a real interruption of the extraction does."""

    def __init__(self, encoder, after):
        self.encoder, self.after = encoder, after
        self.name, self.dim = encoder.name, encoder.dim
        self.batches = 0  # over every call: the extraction calls once per shard

    def fingerprint(self):
        return self.encoder.fingerprint()

    def feature_batches(self, paths):
        for batch in self.encoder.feature_batches(paths):
            if self.batches == self.after:
                raise KeyboardInterrupt
            self.batches += 1
            yield batch


def check_library_example(project, query):
    """examples/library.py in a finished `project`: its R@1 are the run's; the image it
    finds closest to `query` (returned)."""
    _, out = run([sys.executable, str(REPO / "examples/library.py"), query], project)
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    for direction in ("image_search", "image_annotation"):
        assert f"{direction}: R@1 {metrics[direction]['R_at_1']:.1f}\n" in out, out
    return re.search(r"closest test image to .*: (\S+)", out).group(1)


def stage_params(**given):
    """Typed params as a stage gets them (`tie.config.params.typed_params`): each section
    given as a dict of some of its keys, the others from the repository's params.yaml."""
    from tie.config.params import read_params, typed_params

    defaults = read_params(REPO / "params.yaml")
    return typed_params(
        **{
            name: defaults[name] | value if isinstance(value, dict) else value
            for name, value in given.items()
        }
    )
