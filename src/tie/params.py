"""Reading params.yaml and checking its top-level choices before any heavy work."""

from __future__ import annotations

from pathlib import Path

import yaml

from tie.errors import TieError

PARAMS_FILE = "params.yaml"


def choices() -> dict[str, tuple[str, ...]]:
    """The valid names of each top-level choice in params.yaml."""
    from tie.datasets import DATASETS
    from tie.image import IMAGE_ENCODERS
    from tie.text import TEXT_ENCODERS

    return {
        "dataset": tuple(DATASETS),
        "text": tuple(TEXT_ENCODERS),
        "image": tuple(IMAGE_ENCODERS),
    }


def check_choices(params: dict, source: str = PARAMS_FILE) -> None:
    """Fail at once, listing the valid names, if `dataset`, `text` or `image` is unknown."""
    for key, valid in choices().items():
        if key not in params:
            raise TieError(f"{source} has no `{key}`; set it to one of: {', '.join(valid)}")
        if params[key] not in valid:
            raise TieError(
                f"unknown {key} {params[key]!r} in {source}; valid names: {', '.join(valid)}"
                f" (e.g. `dvc exp run -S {key}={valid[0]}`)"
            )
    from tie.datasets import check_split

    check_split(params["dataset"], params.get("split", "official"))


def load_params(path: str | Path = PARAMS_FILE) -> dict:
    """Read params.yaml and check its choices, so a typo fails before any work starts."""
    path = Path(path)
    if not path.exists():
        raise TieError(f"{path} not found: run from the repository root")
    params = yaml.safe_load(path.read_text()) or {}
    check_choices(params, str(path))
    return params


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
