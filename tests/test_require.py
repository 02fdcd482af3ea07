"""TIE_REQUIRE_ALL=1 turns a test that this machine cannot run from a skip into a failure
that names what is missing (tests/require.py); real pytest runs in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LACKING = """
from require import require_module, unavailable

def test_without_a_namespace():
    unavailable("no network namespace here")

def test_without_a_package():
    require_module("tie_no_such_package")
"""


@pytest.mark.parametrize("required", [False, True])
def test_what_this_machine_lacks_skips_or_fails(tmp_path, required):
    (tmp_path / "test_lacking.py").write_text(LACKING)
    env = {k: v for k, v in os.environ.items() if k != "TIE_REQUIRE_ALL"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    if required:
        env["TIE_REQUIRE_ALL"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", tmp_path],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout
    if required:
        assert result.returncode == 1 and "2 failed" in output, output
        assert "no network namespace here, and TIE_REQUIRE_ALL=1 requires every test" in output
        assert "tie_no_such_package cannot be imported" in output
    else:
        assert result.returncode == 0 and "2 skipped" in output, output
        assert "(set TIE_REQUIRE_ALL=1 to make this a failure)" in output
