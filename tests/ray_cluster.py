"""A real two-node Ray cluster for tests, all of its traffic on loopback.

Ray binds and advertises the machine's external address whatever `--node-ip-address`
says (Ray issues #26293, #59110). So the cluster, and every driver the tests run against
it, live in network and PID namespaces of their own (`unshare --net --pid`): there
127.0.0.1 is the only address, so Ray uses it, and nothing outside can reach it or be
reached. The namespaces' first process is a shell; stopping the cluster kills it, and the
kernel then ends every process of the namespace: exactly the processes the cluster
started, never another Ray on the machine. Where namespaces cannot be made (no root, no
user namespaces), `RayCluster.start` skips the test with the reason.

Nor does the cluster depend on the user's Ray state. Ray 2.5x turns token authentication
on by itself where `~/.ray/auth_token` exists (any local `ray.init()` writes one), and then
the nodes and drivers each pick their token from `RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH`
or that file. So every process of the cluster gets the same explicit settings
(`cluster_env`): `RAY_AUTH_MODE=token` and the cluster's own token, a file in its
temporary folder; a `RAY_AUTH_TOKEN` of the caller's environment is removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from require import unavailable

PORT = 6379
ADDRESS = f"127.0.0.1:{PORT}"
OBJECT_STORE_BYTES = 80 * 2**20  # per node: the tests move a few MB
STARTUP_TIMEOUT_S = 180

# Runs as process 1 of the new PID namespace; prints READY once both nodes are up.
SETUP = """
set -e
ip link set lo up
ray start --head --node-ip-address=127.0.0.1 --port={port} --num-cpus=1 \
  --object-store-memory={store} --include-dashboard=false --disable-usage-stats \
  --temp-dir={tmp}/ray > {tmp}/head.log 2>&1
ray start --address={address} --num-cpus=1 --object-store-memory={store} \
  --block > {tmp}/worker.log 2>&1 &
echo $! > {tmp}/worker.pid
{python} -c "
import time, ray
ray.init(address='{address}', logging_level='error')
while sum(n['Alive'] for n in ray.nodes()) < 2:
    time.sleep(0.2)
print('READY', [n['NodeManagerAddress'] for n in ray.nodes()], flush=True)
"
sleep infinity
"""


def namespaces_unavailable() -> str | None:
    """Why this machine cannot run the cluster in namespaces of its own, or None."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"cannot make network/PID namespaces here ({probe.stderr.strip()})"
    return None


class RayCluster:
    """Two Ray nodes (one CPU each) at 127.0.0.1, in namespaces of their own."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tie-ray-"))  # short: Ray's socket paths
        self.token_file = self.tmp / "auth_token"
        self.token_file.write_text(secrets.token_hex(32))
        self.token_file.chmod(0o600)
        self.unshare = None
        self.init_pid = None  # process 1 of the namespaces, as this machine numbers it

    def start(self) -> RayCluster:
        reason = namespaces_unavailable()
        if reason:
            unavailable(f"Ray cluster tests need a loopback-only network namespace: {reason}")
        script = SETUP.format(
            port=PORT,
            address=ADDRESS,
            store=OBJECT_STORE_BYTES,
            tmp=self.tmp,
            python=sys.executable,
        )
        self.unshare = subprocess.Popen(
            ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", script],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while self.init_pid is None and time.monotonic() < deadline:
            children = Path(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children")
            if children.exists() and children.read_text().split():
                self.init_pid = int(children.read_text().split()[0])
            time.sleep(0.05)
        seen = []
        for line in self.unshare.stdout:  # until READY, or the shell exits
            seen.append(line)
            if line.startswith("READY"):
                break
        if not line.startswith("READY"):
            logs = "".join(f.read_text() for f in sorted(self.tmp.glob("*.log")))
            self.stop()
            pytest.fail(f"the Ray cluster did not start: {''.join(seen)}\n{logs}")
        assert "127.0.0.1', '127.0.0.1']" in line, line
        return self

    def run(self, args, cwd, env=None, check=True, timeout=600):
        """Run a command inside the cluster's namespaces (a driver, `dvc repro` ...)."""
        namespaces = ["-t", str(self.init_pid), "--net", "--pid", "--mount", f"--wd={cwd}"]
        inside = ["nsenter", *namespaces, "--"]
        result = subprocess.run(
            inside + list(args),
            cwd=cwd,
            env=self.env() | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = result.stdout + result.stderr
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{output}")
        return result.returncode, output

    def env(self) -> dict:
        """The environment of every node and driver: the cluster's own auth settings."""
        return cluster_env() | {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_file),
        }

    @property
    def worker_pid_file(self) -> Path:
        """The worker node's `ray start --block` process id, as the namespace numbers it."""
        return self.tmp / "worker.pid"

    def stop(self) -> None:
        """Kill process 1 of the namespaces: the kernel ends all the cluster's processes."""
        if self.init_pid is not None:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.unshare is not None:
            self.unshare.wait(timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


LOCAL_RAY = """
ip link set lo up
{python} -c "import ray; ray.init(num_cpus=1, include_dashboard=False); ray.shutdown()"
"""


def run_local_ray(home: Path) -> None:
    """A local `ray.init()` with `home` as HOME, as a user's first run of the Ray engine:
    it leaves `home/.ray/auth_token`. In namespaces of its own too (loopback only)."""
    reason = namespaces_unavailable()
    if reason:
        unavailable(f"Ray cluster tests need a loopback-only network namespace: {reason}")
    subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c"]
        + [LOCAL_RAY.format(python=sys.executable)],
        env=cluster_env() | {"HOME": str(home)},
        capture_output=True,
        check=True,
        timeout=STARTUP_TIMEOUT_S,
    )


def cluster_env() -> dict:
    """This environment, with the venv first on PATH and no telemetry from Ray."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        env.pop(name, None)
    return env
