"""tie.config.lock: the one reader of dvc.lock, and the entry DVC writes for a running stage.

A damaged lock is one line naming it; `running_entry` is computed by real DVC in a real
(tiny) DVC project, as DVC will record it.
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import run

from tie.config.lock import Lock, lock_above, running_entry
from tie.errors import TieError

LOCK = {
    "schema": "2.0",
    "stages": {
        "cca": {
            "cmd": "python stages/cca.py",
            "params": {"params.yaml": {"cca": {"reg": 0.001}, "dataset": "demo"}},
            "outs": [{"path": "metrics/cca_selection.json", "md5": "a" * 32}],
        },
        "evaluate": {
            "params": {"params.yaml": {"eval.split": "test", "dataset": "demo"}},
            "outs": [{"path": "metrics/retrieval.json", "md5": "b" * 32}],
        },
    },
}


def test_a_lock_is_read_stage_by_stage():
    lock = Lock.parse(yaml.safe_dump(LOCK), "the workspace")
    assert lock.params("cca") == {"cca": {"reg": 0.001}, "dataset": "demo"}
    assert lock.params("missing") == {} and lock.stage("missing") == {}
    assert lock.out("evaluate", "metrics/retrieval.json")["md5"] == "b" * 32
    assert lock.output("metrics/cca_selection.json") == (
        "cca",
        {"path": "metrics/cca_selection.json", "md5": "a" * 32},
    )
    assert lock.output("metrics/other.json") is None
    assert lock.flat_params() == {"cca.reg": "0.001", "dataset": "demo", "eval.split": "test"}
    assert "eval.split" not in lock.flat_params(leaving_out=("evaluate",))


@pytest.mark.parametrize(
    "text, says",
    [
        ("stages: [unclosed\n", "is not valid YAML (line 2)"),
        ("- a list\n", "is not a DVC lock file"),
        ("stages:\n  cca: [1, 2]\n", "is not a DVC lock file"),
    ],
)
def test_a_damaged_lock_is_one_line_naming_it(text, says):
    with pytest.raises(TieError) as error:
        Lock.parse(text, "experiment w2v")
    message = str(error.value)
    assert says in message and "dvc.lock of experiment w2v" in message
    assert "\n" not in message


def test_the_workspace_lock_and_a_revisions(tmp_path):
    assert Lock.of_workspace(tmp_path) is None
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    assert Lock.of_workspace(tmp_path).params("evaluate")["eval.split"] == "test"
    run(["git", "init", "-q"], tmp_path)
    run(["git", "add", "dvc.lock"], tmp_path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"], tmp_path)
    (tmp_path / "dvc.lock").write_text("stages: {}\n")
    at_head = Lock.at_revision("HEAD", "HEAD", tmp_path)
    assert at_head.params("cca")["cca"] == {"reg": 0.001}
    assert Lock.at_revision("HEAD~3", "HEAD~3", tmp_path) is None


def test_the_lock_above_a_file_whatever_the_path_is_relative_to(tmp_path, monkeypatch):
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    (tmp_path / "metrics").mkdir()
    file = tmp_path / "metrics" / "cca_selection.json"
    lock, relative = lock_above(file)  # an absolute path
    assert relative.as_posix() == "metrics/cca_selection.json"
    assert lock.output(relative)[0] == "cca"
    monkeypatch.chdir(tmp_path / "metrics")
    assert lock_above("cca_selection.json")[1] == relative  # relative to another folder


DVC_YAML = """
stages:
  evaluate:
    cmd: python -c "print('${model}')"
    deps:
      - models/${model}
      - code
    params:
      - model
      - eval
"""


def test_the_running_entry_is_what_dvc_records(tmp_path):
    """Computed by DVC: the deps resolved (${...}) and hashed by content, the params
    declared, the command; the same entry DVC then writes in dvc.lock."""
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "params.yaml").write_text("model: m1\neval: {split: test}\nother: 1\n")
    (tmp_path / "models/m1").mkdir(parents=True)
    (tmp_path / "models/m1/w.json").write_text("1")
    (tmp_path / "code").mkdir()
    (tmp_path / "code/a.py").write_text("x = 1\n")
    entry = running_entry("evaluate", tmp_path)
    assert [dep["path"] for dep in entry["deps"]] == ["code", "models/m1"]
    assert entry["params"] == {"params.yaml": {"model": "m1", "eval": {"split": "test"}}}
    assert entry["cmd"] == "python -c \"print('m1')\""

    subprocess.run(["touch", "-d", "2001-01-01", str(tmp_path / "code/a.py")], check=True)
    assert running_entry("evaluate", tmp_path) == entry  # dates do not count
    (tmp_path / "code/a.py").write_text("x = 2\n")
    changed = running_entry("evaluate", tmp_path)
    assert changed["deps"][0] != entry["deps"][0] and changed["deps"][1] == entry["deps"][1]

    run(["dvc", "repro", "-q"], tmp_path)
    recorded = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]["evaluate"]
    assert {key: recorded[key] for key in ("cmd", "deps", "params")} == changed


def test_running_entry_of_a_stage_dvc_yaml_lacks_is_one_line(tmp_path):
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    with pytest.raises(TieError, match="could not read stage `missing` of dvc.yaml"):
        running_entry("missing", tmp_path)


def test_a_project_without_a_lock_does_not_borrow_the_one_above(tmp_path):
    """A queued experiment's copy (.dvc/tmp/exps/...) has a dvc.yaml and maybe no lock yet:
    the lock of the repository that holds it is not its record."""
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    copy = tmp_path / ".dvc/tmp/exps/tmp1"
    (copy / "metrics").mkdir(parents=True)
    (copy / "dvc.yaml").write_text(DVC_YAML)
    assert lock_above(copy / "metrics/cca_selection.json") is None


def test_a_feature_file_given_by_its_absolute_path_is_checked_against_the_lock(
    tmp_path, monkeypatch
):
    """The store's check finds the project's lock from the file, not the working folder:
    an absolute path (a script run elsewhere) is checked too, not silently passed."""
    import hashlib

    import numpy as np

    from tie.features.store import load_features, save_features

    features = tmp_path / "features/x.npy"
    features.parent.mkdir()
    save_features(features, np.ones((2, 3)), ["a", "b"])
    ids_md5 = hashlib.md5((tmp_path / "features/x.ids.txt").read_bytes()).hexdigest()
    outs = [
        {"path": "features/x.npy", "md5": "0" * 32},  # not the file's: it was altered
        {"path": "features/x.ids.txt", "md5": ids_md5},
    ]
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"stages": {"feats": {"outs": outs}}}))
    monkeypatch.chdir(tmp_path.parent)  # another working folder
    with pytest.raises(TieError, match=r"x.npy is not what dvc.lock records .* -f feats`"):
        load_features(features, ["a", "b"])


def test_the_ranks_of_a_damaged_workspace_lock_are_one_line(tmp_path):
    from tie.evaluation.query_ranks import workspace_ranks

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/ranks.csv").write_text("kind,query,rank\n")
    (tmp_path / "dvc.lock").write_text("stages: [\n  evaluate: {")
    with pytest.raises(TieError, match=r"^dvc.lock of the workspace is not valid YAML"):
        workspace_ranks(tmp_path)


def test_numbers_are_read_as_dvc_writes_them_yaml_1_2():
    """DVC writes YAML 1.2, where `1e-05` is a number (YAML 1.1 readers make it a string,
    and a search would then call params.yaml's 1e-05 changed)."""
    text = "stages:\n  cca:\n    params:\n      params.yaml:\n        cca.reg: 1e-05\n"
    lock = Lock.parse(text, "t")
    assert lock.params("cca") == {"cca.reg": 1e-05}


def test_no_module_but_the_lock_reader_parses_dvc_lock():
    """The one reader, structurally: a module that parses YAML and names dvc.lock is
    tie.config.lock (others read dvc.yaml, or copy dvc.lock as a file)."""
    src = Path(__file__).resolve().parents[1] / "src"
    parsers = re.compile(r"^\s*(import yaml|from yaml |from ruamel|import ruamel)", re.M)
    readers = [
        str(path.relative_to(src))
        for path in sorted(src.rglob("*.py"))
        if parsers.search(text := path.read_text())
        and re.search(r"[\"']dvc\.lock[\"']|\bLOCK_FILE\b", text)
    ]
    assert readers == ["tie/config/lock.py"]
