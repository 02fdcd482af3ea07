"""The examples under examples/ run on a finished demo project and say what the run says."""

import json
import re
import sys

import pytest
from helpers import REPO, run

pytestmark = pytest.mark.e2e


def test_library_example_scores_the_run_and_finds_what_tie_search_finds(demo_project, tmp_path):
    # The session's demo project is only read here: nothing is written into it.
    _, out = run([sys.executable, str(REPO / "examples/library.py"), "red circle"], demo_project)
    metrics = json.loads((demo_project / "metrics/retrieval.json").read_text())
    for direction in ("image_search", "image_annotation"):
        assert f"{direction}: R@1 {metrics[direction]['R_at_1']:.1f}\n" in out
    closest = re.search(r"closest test image to 'red circle': (\S+)", out).group(1)

    sheet = tmp_path / "sheet.png"
    _, found = run(
        ["tie", "search", "red circle", "--top", "1", "--output", str(sheet)], demo_project
    )
    (first,) = [line for line in found.splitlines() if line.strip().startswith("1.")]
    assert first.endswith(f"/{closest}")
