"""A stage's inputs fixed for the length of the stage.

DVC records a stage's deps and params in `dvc.lock` when the stage ends, as they are then:
a file replaced or a param changed while the stage ran would be recorded as used though
the stage read the earlier one, and `dvc status` would then say up to date. So every stage
script (through `tie.commands.Command`) notes, when it starts, each dep that `dvc.yaml`
declares for it (every file below a dep folder: its size, modification time and inode, so
an edit, an append or a replacement shows, without reading any content) and each param it
declares, and compares them when it ends: a difference fails the stage in one line, naming
what changed, and DVC records nothing. Outside a DVC project (no `dvc.yaml` here, or no
stage of that name) nothing is noted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from tie.config.params import PARAMS_FILE, read_params
from tie.errors import TieError

DVC_FILE = Path("dvc.yaml")
_VARIABLE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


class FixedInputs:
    """`FixedInputs(stage).check()`: a TieError if a dep or param of `stage` changed since
    this was made."""

    def __init__(self, stage: str, dvc_file: Path = DVC_FILE, params_file=PARAMS_FILE):
        self.stage, self.params_file = stage, Path(params_file)
        self.deps, self.names = _declared(stage, Path(dvc_file), self.params_file)
        self.files = _noted(self.deps)
        self.values = self._values()

    def _values(self) -> dict:
        if not self.names:
            return {}
        params = read_params(self.params_file)
        return {name: _lookup(params, name) for name in self.names}

    def check(self) -> None:
        values = self._values()
        changed = [name for name in self.names if values[name] != self.values[name]]
        if changed:
            raise TieError(
                f"param {changed[0]} of {self.params_file} changed while the stage"
                f" {self.stage} ran ({self.values[changed[0]]!r} -> {values[changed[0]]!r}):"
                " its outputs are not recorded; run `dvc repro` again"
            )
        files = _noted(self.deps)
        differ = sorted(
            set(files) ^ set(self.files) | {p for p in files if files[p] != self.files.get(p)}
        )
        if differ:
            raise TieError(
                f"{differ[0]} changed while the stage {self.stage} ran (a dep of it in"
                f" {DVC_FILE}): its outputs are not recorded; run `dvc repro` again once the"
                " inputs are settled"
            )


def _declared(stage: str, dvc_file: Path, params_file: Path) -> tuple[list[str], list[str]]:
    """The deps (paths, variables filled in from params.yaml) and param names of `stage`."""
    if not dvc_file.is_file():
        return [], []
    try:
        record = ((yaml.safe_load(dvc_file.read_text()) or {}).get("stages") or {}).get(stage)
    except yaml.YAMLError:
        return [], []  # DVC itself says what is wrong with it
    if not isinstance(record, dict):
        return [], []
    params = read_params(params_file) if params_file.is_file() else {}

    def filled(text: str) -> str:
        return _VARIABLE.sub(lambda m: str(_lookup(params, m.group(1))), text)

    deps = [filled(str(d)) for d in record.get("deps") or [] if isinstance(d, str)]
    names = []
    for entry in record.get("params") or []:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):  # `- other.yaml: [keys]`: not params.yaml's
            continue
    return deps, names


def _lookup(params: dict, name: str):
    value = params
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _noted(deps: list[str]) -> dict[str, tuple]:
    """(size, modification time, inode) of every file of `deps` (folders walked)."""
    noted = {}
    for dep in deps:
        if os.path.isdir(dep):
            for top, _, files in os.walk(dep):
                for name in files:
                    if name.endswith(".pyc"):  # Python's caches, ignored by DVC (.dvcignore)
                        continue
                    noted[os.path.join(top, name)] = _stat(os.path.join(top, name))
        else:
            noted[dep] = _stat(dep)
    return noted


def _stat(path: str) -> tuple:
    try:
        info = os.stat(path)
    except OSError:
        return ("missing",)
    return (info.st_size, info.st_mtime_ns, info.st_ino)
