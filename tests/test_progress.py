"""Progress of long steps in a log file: plain lines every few percent, no carriage returns.

A stage's stderr that is not a terminal (`dvc repro > log 2>&1`) gets whole lines
(`tie.progress`); a terminal keeps tqdm's bar.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import copy_project

from tie import progress as progress_module
from tie.progress import progress


def test_a_log_file_gets_a_line_every_five_percent_and_no_carriage_return(tmp_path, monkeypatch):
    monkeypatch.setattr(progress_module, "MIN_SECONDS", 0.0)  # every step, however fast
    log = tmp_path / "log"
    with log.open("w") as file:
        for _ in progress(range(1000), desc="colorgrid", unit="img", file=file):
            pass
    text = log.read_text()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 20, text
    assert lines[0].startswith("colorgrid: 50/1000 img (5%), ")
    assert lines[-1].startswith("colorgrid: 1000/1000 img (100%), ")


def test_a_fast_step_in_a_log_file_is_one_line_and_an_unfinished_one_says_where_it_stopped(
    tmp_path,
):
    log = tmp_path / "log"
    with log.open("w") as file:
        for _ in progress(range(1000), desc="fast", unit="img", file=file):
            pass
        with progress(total=100, desc="EM", unit="iteration", file=file) as bar:
            bar.update(7)
    assert log.read_text().splitlines()[0].startswith("fast: 1000/1000 img (100%), ")
    assert log.read_text().splitlines()[1].startswith("EM: 7/100 iteration (7%), ")


@pytest.mark.e2e
def test_every_long_stage_writes_progress_lines_into_a_log_file(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["caption_vectors"]["pooling"] = "fisher"
    params["fisher"] |= {"n_components": 2, "mixture": "gmm"}
    # a grid of two points: the grid search reports too
    params["cca"] |= {"n_components": 20, "reg": [0.0001, 0.001], "scale_power": 2.0}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = tmp_path / "repro.log"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("w") as file:
        subprocess.run(
            ["dvc", "repro", "--force"], cwd=project, stdout=file, stderr=file, env=env, check=True
        )
    text = log.read_text()
    assert "\r" not in text
    for stage, line in {
        "data": r"demo images: 220/220 img \(100%\), \d+ s, ",
        "image_features": r"colorgrid: 220/220 img \(100%\), \d+ s, ",
        "mixture": r"gaussian mixture EM: \d+/100 iteration \(\d+%\), ",
        "text_features": r"tokenize: 1100/1100 caption \(100%\), ",
        "moments": r"CCA covariances: \d+/\d+ block \(100%\), ",
        "cca": r"CCA grid search: 2/2 point \(100%\), ",
        "evaluate": r"MLflow run: (\d+)/\1 step \(100%\), ",
    }.items():
        assert re.search(line, text), f"{stage}: no progress line /{line}/ in\n{text}"


def test_mlflow_logging_writes_a_line_per_step_into_a_log_file(tmp_path, monkeypatch, capsys):
    """The evaluate stage's MLflow logging (minutes at Flickr30k size: a new store, the
    split datasets, the model) counts its steps: store, duplicate check, params, metrics,
    each artifact, each callable of `in_run`."""
    from tie.evaluation.tracking import log_evaluation

    monkeypatch.setattr(progress_module, "MIN_SECONDS", 0.0)  # every step, however fast
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "curve.csv").write_text("k,r\n1,10\n")
    called = []
    metrics = {"image_search": {"R_at_1": 10.0}, "image_annotation": {"R_at_1": 12.0}}
    steps = [lambda: called.append("datasets"), lambda: called.append("model")]

    run_id, logged = log_evaluation(
        "demo", {"text": "glove"}, metrics, [tmp_path / "curve.csv"], None, "fp", steps
    )
    assert logged and called == ["datasets", "model"]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("MLflow")]
    assert [line.split(",")[0] for line in lines] == [
        f"MLflow run: {k}/7 step ({100 * k // 7}%)" for k in range(1, 8)
    ], lines

    again, logged = log_evaluation("demo", {"text": "glove"}, metrics, [], None, "fp", steps)
    assert (again, logged) == (run_id, False) and called == ["datasets", "model"]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("MLflow")]
    assert lines[-1].startswith("MLflow run: 1/6 step (16%)"), lines  # stopped: a duplicate
