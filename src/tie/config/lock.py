"""dvc.lock, the record of what each stage last ran with: the one reader of it.

A `Lock` is read from the workspace (`Lock.of_workspace`), from a commit such as an
experiment's (`Lock.at_revision`), or from the text of either (`Lock.parse`); a damaged
file is one line naming it. `running_entry` is the entry DVC is about to write for a stage
that is running now (its lock entry is written only once it succeeds), computed by DVC's
own API the way DVC computes it: the stage's command, every dep it declares (resolved as
DVC resolves `${...}`) with its content hash, and the values of the params it declares.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML, YAMLError

from tie.config.params import flatten
from tie.errors import TieError

LOCK_FILE = "dvc.lock"


class Lock:
    """The stages a dvc.lock records: each one's command, deps, params and outs."""

    def __init__(self, stages: dict, where: str):
        self.stages = stages
        self.where = where  # names the record in messages: "the workspace", "experiment w2v"

    @classmethod
    def parse(cls, text: str, where: str) -> Lock:
        """The lock whose text is `text`; a one-line error if it is not a valid dvc.lock."""
        try:  # YAML 1.2, as DVC writes it (`1e-05` is a number, not a string)
            lock = YAML(typ="safe", pure=True).load(text) or {}
        except YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f" (line {mark.line + 1})" if mark else ""
            raise TieError(
                f"{LOCK_FILE} of {where} is not valid YAML{line}: restore it (`git checkout --"
                f" {LOCK_FILE}`), or re-run `dvc repro` to write it again"
            ) from None
        stages = (lock.get("stages") or {}) if isinstance(lock, dict) else None
        if not isinstance(stages, dict) or not all(
            isinstance(stage or {}, dict) for stage in stages.values()
        ):
            raise TieError(
                f"{LOCK_FILE} of {where} is not a DVC lock file (no mapping of stages): restore"
                f" it (`git checkout -- {LOCK_FILE}`), or re-run `dvc repro` to write it again"
            )
        return cls({name: stage or {} for name, stage in stages.items()}, where)

    @classmethod
    def of_workspace(cls, root: Path = Path("."), where: str = "the workspace") -> Lock | None:
        """The workspace's lock (`root`/dvc.lock); None if there is none."""
        file = Path(root) / LOCK_FILE
        return cls.parse(file.read_text(), where) if file.is_file() else None

    @classmethod
    def at_revision(cls, rev: str, where: str, root: Path = Path(".")) -> Lock | None:
        """The lock that commit `rev` (an experiment's, a branch) holds; None if none."""
        result = subprocess.run(
            ["git", "show", f"{rev}:{LOCK_FILE}"], cwd=root, capture_output=True, check=False
        )
        return cls.parse(result.stdout.decode(), where) if result.returncode == 0 else None

    def stage(self, name: str) -> dict:
        """Stage `name`'s entry ({} if the lock records none)."""
        return self.stages.get(name) or {}

    def params(self, name: str) -> dict:
        """The params.yaml values stage `name` ran with, as DVC records them."""
        return ((self.stage(name).get("params") or {}).get("params.yaml")) or {}

    def out(self, name: str, path: str | Path) -> dict | None:
        """The record of output `path` of stage `name` (its md5 ...), or None."""
        outs = self.stage(name).get("outs") or []
        return next((out for out in outs if Path(out.get("path", "")) == Path(path)), None)

    def output(self, path: str | Path) -> tuple[str, dict] | None:
        """(stage, record) of the stage whose output is `path` (relative to the lock's
        folder), or None if no stage records it."""
        for name in self.stages:
            out = self.out(name, path)
            if out is not None:
                return name, out
        return None

    def flat_params(self, leaving_out: tuple[str, ...] = ()) -> dict[str, str]:
        """Every param the stages recorded (but those `leaving_out`), as MLflow stores
        them (`section.key`: string)."""
        flat = {}
        for name in self.stages:
            if name not in leaving_out:
                flat |= flatten(self.params(name))
        return flat


def lock_above(path: Path) -> tuple[Lock, Path] | None:
    """The lock of the project that file `path` lies in, and `path` relative to the
    project's folder; None if that project has no lock yet.

    The project is the nearest folder above `path` with a dvc.yaml or a dvc.lock (a queued
    experiment's copy in `.dvc/tmp/exps/` is a project of its own: the lock of the one that
    holds it is not its record).
    """
    path = Path(path).resolve()
    for folder in path.parents:
        if (folder / "dvc.yaml").is_file() or (folder / LOCK_FILE).is_file():
            if not (folder / LOCK_FILE).is_file():
                return None
            lock = Lock.parse((folder / LOCK_FILE).read_text(), str(folder))
            return lock, path.relative_to(folder)
    return None


def running_entry(stage_name: str, root: Path = Path(".")) -> dict:
    """The entry DVC will write in dvc.lock for stage `stage_name` once it has run: its
    `cmd`, its `deps` (path, content hash) and its `params`, as DVC computes them now.

    Meant for the stage itself, while it runs under `dvc repro` or `dvc exp run` (the
    deps' hashes come from DVC's state, computed when DVC checked the stage).
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc.stage.serialize import to_single_stage_lockfile

    try:
        root = Path(root).resolve()
        with Repo(str(root)) as repo:  # the stage of root/dvc.yaml, whatever the cwd
            stage = next(iter(repo.stage.collect(f"{root / 'dvc.yaml'}:{stage_name}")))
            stage.save_deps()
            entry = to_single_stage_lockfile(stage)
    except (DvcException, StopIteration) as error:
        raise TieError(
            f"could not read stage `{stage_name}` of dvc.yaml in {root}"
            f" ({str(error).splitlines()[0] if str(error) else type(error).__name__}): run"
            " the stage by `dvc repro` at the repository's root"
        ) from None
    return {key: entry[key] for key in ("cmd", "deps", "params") if key in entry}


def flat_entry_params(entry: dict) -> dict[str, str]:
    """The params.yaml values of a lock entry, as MLflow stores them."""
    return flatten((entry.get("params") or {}).get("params.yaml") or {})
