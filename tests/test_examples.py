"""The examples under examples/ run on a finished demo project and say what the run says."""

import pytest
from helpers import check_library_example, run

pytestmark = pytest.mark.e2e


def test_library_example_scores_the_run_and_finds_what_tie_search_finds(demo_project, tmp_path):
    # The session's demo project is only read here: nothing is written into it.
    closest = check_library_example(demo_project, "red circle")

    sheet = tmp_path / "sheet.png"
    _, found = run(
        ["tie", "search", "red circle", "--top", "1", "--output", str(sheet)], demo_project
    )
    (first,) = [line for line in found.splitlines() if line.strip().startswith("1.")]
    assert first.endswith(f"/{closest}")
