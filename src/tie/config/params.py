"""Reading params.yaml and checking all of it against the schema before any work.

A stage asks for the sections it declares in dvc.yaml, `load_params("cca", "eval")`,
and gets only those (a test checks the two lists are the same). The whole file is
checked first, in about a millisecond, so any bad value fails at once, whichever stage
DVC runs first. What a stage gets is typed and read-only: `params.cca` is the schema's
`Cca` section (`params.cca.reg`), `params.dataset` a name; a number is as written in
params.yaml (`256` stays an integer). The library's steps take the sections they need,
never a dict of params, so a rule the schema holds is checked once, there, and each
default is declared once, in the schema.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import get_args

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML, YAMLError

from tie.config.registry import choices
from tie.config.schema import ParamError, Params, advice
from tie.errors import MAX_QUOTED, TieError, shorten

PARAMS_FILE = "params.yaml"
# Bounds on what is read: the repository's params.yaml is about 7 KB and 80 values. A
# YAML alias repeats a value without copying it, so a 7 KB file can stand for 10^9
# values; anything that walks it (the schema, a message, DVC) would run out of memory.
MAX_PARAMS_BYTES = 1_000_000
MAX_PARAMS_VALUES = 100_000

__all__ = [
    "PARAMS_FILE",
    "StageParams",
    "check_params",
    "checked_params",
    "choices",
    "flatten",
    "load_params",
    "read_params",
    "read_section",
    "typed_params",
]


class _ReadOnly:
    """Named values, read as attributes; a name not loaded is an AttributeError naming it."""

    __slots__ = ("_values", "_where")

    def __init__(self, values: dict, where: str):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_where", where)

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"{self._where}{name} was not loaded: declare it (load_params and the"
                " stage's params in dvc.yaml)"
            ) from None

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"params are read-only ({self._where}{name})")

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._values == self._values

    def __repr__(self) -> str:
        inside = ", ".join(f"{key}={value!r}" for key, value in self._values.items())
        return f"{type(self).__name__}({inside})"

    def model_dump(self) -> dict:
        """The values as plain data (sections as dicts), as `Params.model_dump` gives them."""
        return {
            key: value.model_dump() if hasattr(value, "model_dump") else value
            for key, value in self._values.items()
        }


class StageParams(_ReadOnly):
    """The params a stage declared: names (`params.dataset`) and the schema's typed,
    read-only sections (`params.cca.reg`); a section declared key by key
    (`fisher.mixture`) holds only those keys."""

    def __init__(self, values: dict):
        super().__init__(values, "params ")


class PartialSection(_ReadOnly):
    """The keys of one section that a stage declared one by one (`fisher.mixture`)."""

    def __init__(self, section: str, values: dict):
        super().__init__(values, f"params {section}.")


def read_params(path: str | Path = PARAMS_FILE) -> dict:
    """params.yaml as written, unchecked (e.g. to record it with a run).

    Read as YAML 1.2, as DVC reads it, so that the values a stage gets are the ones DVC
    hashed (`1e-3` is a number, `yes` is a string).
    """
    path = Path(path)
    if not path.exists():
        raise TieError(f"{path} not found: run from the repository root")
    if not path.is_file():
        raise TieError(f"{path} is not a file: give the path of a params.yaml")
    if path.stat().st_size > MAX_PARAMS_BYTES:
        raise TieError(
            f"{path} is {path.stat().st_size} bytes, more than a params file holds (at most"
            f" {MAX_PARAMS_BYTES}): is it the right file?"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise TieError(f"{path} is not UTF-8 text (byte {error.start}): save it as UTF-8") from None
    directive = next((line for line in text.splitlines() if line.startswith("%YAML")), None)
    if directive is not None and directive.split()[1:2] != ["1.2"]:
        raise TieError(
            f"{path} declares {directive.strip()[:20]!r}: remove that line; params are read as"
            " YAML 1.2, as DVC reads them (under 1.1, keys such as n or no become booleans and"
            " 010 becomes 8)"
        )
    try:
        params = YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        problem = getattr(error, "problem", error)
        problem = " ".join(str(problem).split())[:MAX_QUOTED]
        raise TieError(f"{path} is not valid YAML{line}: {problem}") from None
    if not isinstance(params, dict):
        raise TieError(f"{path} must be a mapping of params (`dataset: demo` ...)")
    for key, value in params.items():
        if _values(value, {}) > MAX_PARAMS_VALUES:
            raise TieError(
                f"{path}: {shorten(key)} stands for more than {MAX_PARAMS_VALUES} values (YAML"
                " aliases repeating a value?): write the values themselves, a few at most"
            )
    return params


def _values(value, counted: dict) -> int:
    """How many values `value` holds once its aliases are expanded, counted without
    expanding them (a repeated object is counted once, then multiplied)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in counted:
        counted[id(value)] = 0  # a cycle (`&a [*a]`) counts as itself: no recursion
        children = value.values() if isinstance(value, dict) else value
        counted[id(value)] = 1 + sum(_values(child, counted) for child in children)
    return counted[id(value)]


def check_params(params: dict, source: str = PARAMS_FILE) -> list[str]:
    """Check every param; the first bad one is a one-line `TieError`.

    Returns advice about valid settings that have no effect (e.g. `backbone.crops` with
    `image: colorgrid`).
    """
    return advice(_checked(params, source))


def load_params(*sections: str, path: str | Path = PARAMS_FILE) -> StageParams | Params:
    """The `sections` of params.yaml (all of it, a `Params`, if none are named), after
    checking it all; typed and read-only.

    A dotted name (`fisher.mixture`) gives that one key of its section, as a DVC stage
    declares it: the stage then sees only the keys it declared. Advice about settings
    that have no effect is printed on stderr.
    """
    unknown = [
        name
        for name in sections
        if name.split(".")[0] not in Params.model_fields
        or ("." in name and name.split(".", 1)[1] not in _section_fields(name.split(".")[0]))
    ]
    if unknown:
        raise ValueError(f"params.yaml has no section {unknown}")
    checked = _checked(read_params(path), str(path))
    for note in advice(checked):
        print(f"{path}: note: {note}", file=sys.stderr)
    if not sections:
        return checked
    chosen, keys = {}, {}
    for name in sections:
        section, _, key = name.partition(".")
        if key:
            keys.setdefault(section, {})[key] = getattr(getattr(checked, section), key)
        else:
            chosen[section] = getattr(checked, section)
    for section, values in keys.items():
        chosen.setdefault(section, PartialSection(section, values))
    return StageParams(chosen)


def read_section(name: str, path: str | Path = PARAMS_FILE):
    """Section `name` of params.yaml, checked and typed, without checking the rest (e.g.
    `compute`, which no stage declares to DVC: `tie.engine.load_engine`)."""
    return getattr(_typed({name: read_params(path).get(name)}, str(path)), name)


def checked_params(params: dict, source: str = PARAMS_FILE) -> Params:
    """All of `params` (params.yaml as read), checked and typed; the first bad param is a
    one-line `TieError` naming `source`."""
    return _checked(params, source)


def typed_params(**values) -> StageParams:
    """Params given as values (a section as a dict or as its schema model), each checked
    against its part of the schema (no rule across sections): e.g. for a library step
    called without a params.yaml, `typed_params(image="colorgrid", image_decode={...})`."""
    return _typed(values, "params")


def _typed(values: dict, source: str) -> StageParams:
    typed = {}
    for name, value in values.items():
        if name not in Params.model_fields:
            raise ValueError(f"params.yaml has no section {name!r}")
        field = Params.model_fields[name]
        if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            if value not in get_args(field.annotation):  # a name: dataset, text, ...
                raise TieError(f"{source}: {name} = {shorten(value)}: must be {field.description}")
            typed[name] = value
            continue
        if isinstance(value, BaseModel):
            value = value.model_dump()
        try:
            typed[name] = field.annotation.model_validate(value)
        except ValidationError as error:
            first = error.errors()[0]
            first = first | {"loc": (name, *first["loc"])}
            raise TieError(f"{source}: {_describe(first, {name: value})}") from None
    return StageParams(typed)


def _checked(params: dict, source: str) -> Params:
    try:
        return Params.model_validate(params)
    except ValidationError as error:
        raise TieError(f"{source}: {_describe(error.errors()[0], params)}") from None


def _section_fields(section: str) -> dict:
    model = Params.model_fields[section].annotation
    return getattr(model, "model_fields", {})


def flatten(params: dict, prefix: str = "") -> dict[str, str]:
    """Nested params as `section.key` strings, the form MLflow stores."""
    flat = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def _describe(error: dict, params: dict) -> str:
    """One pydantic error as `name = value: what is allowed`."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ParamError):
        return str(cause)
    model, names, field = Params, [], None
    for part in error["loc"]:  # section, key; then union members and list positions
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            break
        if part not in model.model_fields:
            break
        names.append(part)
        field = model.model_fields[part]
        model = field.annotation
    dotted = ".".join(names)
    if error["type"] == "extra_forbidden":
        key = error["loc"][len(names)]
        where = f"section `{dotted}`" if names else "params.yaml"
        known = ", ".join(model.model_fields)
        return f"unknown param {'.'.join([*names, str(key)[:100]])}; {where} has: {known}"
    if error["type"] == "missing":
        what = field.description or "a section of `key: value` lines"
        return f"{dotted} is missing: it must be {what} (see the repository's params.yaml)"
    if not names or field is None:  # a section that is not a mapping
        return f"{dotted or 'params'}: {shorten(error['msg'])}"
    value = params
    for name in names:
        value = value[name]
    what = field.description or "a section of `key: value` lines"
    return f"{dotted} = {shorten(value)}: must be {what}"
