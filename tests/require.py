"""Tests that this machine cannot run, and the switch that makes them failures.

A test that needs what the machine may lack (Ray's loopback-only network namespace, a
required package that fails to import) skips here, saying why; with `TIE_REQUIRE_ALL=1`
(set by `.ci/run`) it fails instead, naming what is missing, so that CI never passes
by skipping. (`TIE_REQUIRE_BROWSER=1` does the same for the browser tests alone.)
"""

import importlib
import os

import pytest

REQUIRE_ALL = "TIE_REQUIRE_ALL"


def required() -> bool:
    return os.environ.get(REQUIRE_ALL) == "1"


def unavailable(reason: str):
    """Skip the test (or the module, at import) saying why; fail with TIE_REQUIRE_ALL=1."""
    if required():
        pytest.fail(f"{reason}, and {REQUIRE_ALL}=1 requires every test to run", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_ALL}=1 to make this a failure)", allow_module_level=True)


def require_module(name: str):
    """The module `name` (a required dependency), or the test skipped (failed) without it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        unavailable(f"{name} cannot be imported ({error})")
