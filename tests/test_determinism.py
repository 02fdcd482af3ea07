"""Same inputs, same bytes: the pipeline's results do not depend on the machine's settings.

`.ci/run` checks the committed `dvc.lock` against a fresh clone's `dvc repro`; these tests
check the mechanism on the tiny demo: other BLAS thread counts and streaming chunk sizes
give the same `dvc.lock` and metrics, and the README's way back to a clean workspace ends
up to date.
"""

import pytest
from helpers import build_demo_project, copy_project, run

pytestmark = pytest.mark.e2e

RESULTS = [
    "dvc.lock",
    "metrics/retrieval.json",
    "metrics/recall_at_k.csv",
    "metrics/cca_grid.csv",
    "metrics/cca_selection.json",
    "metrics/scoring_selection.json",
]


def test_other_blas_threads_and_chunk_sizes_give_the_same_lock_and_metrics(demo_project, tmp_path):
    # The session's project ran with the machine's defaults (OpenBLAS: one thread per
    # core; CCA chunks of 64 MB); this one on one thread, with chunks of a few rows.
    other = build_demo_project(
        tmp_path / "other", env={"OPENBLAS_NUM_THREADS": "1", "TIE_CCA_CHUNK_MB": "0.01"}
    )
    for name in RESULTS:
        assert (other / name).read_text() == (demo_project / name).read_text(), name


def test_the_readme_recipe_restores_a_clean_workspace_after_a_failed_and_a_good_experiment(
    demo_project, tmp_path
):
    project = copy_project(demo_project, tmp_path / "project")
    recipe = [
        ["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics/"],
        ["dvc", "checkout"],
    ]
    # Fails in `cca`, after `text_features` has run with the new param and updated dvc.lock.
    failed = ["dvc", "exp", "run", "-S", "caption_vectors.idf=true", "-S", "cca.n_components=999"]
    code, output = run(failed, project, check=False)
    assert code != 0, output
    good = ["dvc", "exp", "run", "-S", "cca.reg=0.001"]
    for experiment in (None, good):
        if experiment:
            run(experiment, project)
        for command in recipe:
            run(command, project)
        _, status = run(["dvc", "status"], project)
        assert "Data and pipelines are up to date." in status, status
        _, porcelain = run(["git", "status", "--porcelain", "--untracked-files=no"], project)
        assert porcelain == "", porcelain
        code, output = run(["tie", "search", "red circle", "--top", "2"], project, check=False)
        assert code == 0, output
