"""TensorFlow's start-up log is held back; other lines on stderr, and failures, still show."""

import os
import subprocess
import sys

import pytest

NOISE_MARKERS = ("absl::InitializeLog", "I0000 ")


def run_python(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, check=False
    )


def test_held_stderr_keeps_warnings_and_errors_and_everything_on_failure():
    code = """
import os, sys
from tie.tensorflow_logs import _stderr_held
with _stderr_held():
    os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are")
    os.write(2, b" written to STDERR\\n")
    os.write(2, b"E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n")
    os.write(2, b"E0000 00:00:1.0 1 some_kernel.cc:1] a real problem\\n")
    print("python's own stderr", file=sys.stderr)
try:
    with _stderr_held():
        os.write(2, b"I0000 a line before the failure\\n")
        raise ImportError("broken")
except ImportError:
    pass
"""
    process = run_python(code)
    assert process.returncode == 0, process.stderr
    assert process.stderr.splitlines() == [
        "E0000 00:00:1.0 1 some_kernel.cc:1] a real problem",
        "python's own stderr",
        "I0000 a line before the failure",
    ]


@pytest.mark.e2e
def test_importing_tensorflow_is_quiet_unless_asked_for():
    code = "from tie.tensorflow_logs import import_tensorflow; import_tensorflow(); print('ok')"
    quiet = run_python(code)
    assert quiet.stdout == "ok\n"
    assert not any(marker in quiet.stderr for marker in NOISE_MARKERS), quiet.stderr
    asked = run_python(code, TF_CPP_MIN_LOG_LEVEL="0")
    assert asked.stdout == "ok\n"
    assert any(marker in asked.stderr for marker in NOISE_MARKERS)  # the noise exists here


@pytest.mark.e2e
def test_loading_a_clip_tower_is_quiet_too(tiny_clip_preset):
    """`image: clip` / `text: clip` reach TensorFlow through KerasHub (tie.towers.load)."""
    code = (
        "from tie.image.tower import TowerImageEncoder;"
        f" print(TowerImageEncoder('clip', preset={str(tiny_clip_preset)!r}).dim > 0)"
    )
    quiet = run_python(code)
    assert quiet.returncode == 0 and quiet.stdout == "True\n", quiet.stderr
    assert not any(marker in quiet.stderr for marker in NOISE_MARKERS), quiet.stderr
