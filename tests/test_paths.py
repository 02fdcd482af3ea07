"""dvc.yaml's commands and outputs use the path templates of `tie.config.paths`, no others."""

import re
from pathlib import Path

import yaml

from tie.config import paths

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = {
    name: value
    for name, value in vars(paths).items()
    if name.isupper() and name != "DOWNLOADS" and isinstance(value, str)
}


def as_dvc(template):
    return re.sub(r"\{([\w.]+)\}", r"${\1}", template)


def pipeline_paths(stage):
    """The data paths a stage's cmd, deps and outs name (not its code)."""
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]]
    words = stage["cmd"].split() + stage["deps"] + outs
    return {w for w in words if w.split("/")[0] in ("data", "features", "models", "metrics")}


def test_every_path_of_the_pipeline_is_a_template_of_tie_paths():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    known = {as_dvc(t) for t in TEMPLATES.values()}
    used = set().union(*(pipeline_paths(stage) for stage in stages.values()))
    assert used - known == set()
    # every template is an output of some stage, or its side file (.ids.txt)
    outs = {next(iter(o)) if isinstance(o, dict) else o for s in stages.values() for o in s["outs"]}
    assert {as_dvc(t) for t in TEMPLATES.values()} <= outs | used


def test_output_path_fills_the_choices():
    path = paths.output_path(paths.MODEL_DIR, "/repo", dataset="demo", image="c", text="g")
    assert path == Path("/repo/models/demo/c-g")
