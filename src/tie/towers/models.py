"""CLIP and SigLIP: image and text towers trained together, loaded from a KerasHub preset.

The same params section (`clip:` or `siglip:`) configures both towers of a model: the
image encoder `tie.image.tower.TowerImageEncoder` (the vision tower's embedding, one
row per image) and the sentence encoder `tie.text.tower.TowerTextEncoder` (the text
tower's embedding, one row per caption). A preset is a KerasHub preset name
(`clip_vit_base_patch32`, downloaded by KerasHub into its cache on first use) or a local
preset directory (`config.json`, `model.weights.h5`, `preprocessor.json`, `assets/`).

This module is light: it names the models and checks a preset without importing
TensorFlow or KerasHub (only `tie.towers.load` does, when a tower is built).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tie.errors import TieError


@dataclass(frozen=True)
class TowerModel:
    backbone: str  # class of keras_hub.models
    preprocessor: str  # class of keras_hub.models: tokenizer + packing (text side)
    image_converter: str  # class of keras_hub.layers: resize, crop, normalise (image side)


TOWER_MODELS: dict[str, TowerModel] = {
    "clip": TowerModel("CLIPBackbone", "CLIPPreprocessor", "CLIPImageConverter"),
    "siglip": TowerModel("SigLIPBackbone", "SigLIPPreprocessor", "SigLIPImageConverter"),
}


class TowerEncoder:
    """What the image and the text tower of `model` (`clip` | `siglip`) share: the preset,
    the batch size, the dtype, the backbone (loaded on first use) and the fingerprint.

    Parameters
    ----------
    model : str
        `clip` or `siglip` (the params section that configures it).
    preset : str
        A KerasHub preset name or a local preset directory.
    batch_size : int, default=32
        Inputs per forward pass.
    dtype : str, default="float32"
        `float32` or `bfloat16`: the tower's weights and computation. Rows are float32
        either way.
    """

    side = ""  # "image" or "text": the fingerprint's key for the model's name

    def __init__(self, model: str, *, preset: str, batch_size: int = 32, dtype: str = "float32"):
        self.name = model
        self.preset = preset
        self.batch_size = batch_size
        self.dtype = dtype
        self._forward = None
        self._fingerprint = None

    def fingerprint(self) -> dict:
        """What the rows depend on: the model, the preset (its files' hash if local), dtype."""
        if self._fingerprint is None:
            self._fingerprint = {
                self.side: self.name,
                "preset": preset_fingerprint(self.name, self.preset),
                "dtype": self.dtype,
            }
        return self._fingerprint

    @cached_property
    def backbone(self):
        from tie.towers.load import load_backbone

        return load_backbone(self.name, self.preset, self.dtype)


def is_local_preset(preset: str) -> bool:
    """A preset given as a path (absolute, relative, or `~`), not a name or a handle."""
    return "://" not in preset and (os.sep in preset or preset.startswith((".", "~")))


def kagglehub_cache() -> Path:
    """Where KerasHub's downloads land (kagglehub's cache: $KAGGLEHUB_CACHE)."""
    default = Path.home() / ".cache" / "kagglehub"
    return Path(os.environ.get("KAGGLEHUB_CACHE") or default)


def unreachable_preset_message(model: str, preset: str, handle: str, reason: str) -> str:
    """What to do when a preset cannot be downloaded (no internet, say).

    `handle` is where KerasHub downloads it from, e.g.
    `kaggle://keras/clip/keras/clip_vit_base_patch32/3`; kagglehub keeps a Kaggle preset
    in its cache under the same path.
    """
    if handle.startswith("kaggle://"):
        path = handle.removeprefix("kaggle://")
        where = f"{kagglehub_cache() / 'models' / path}/ (kagglehub's cache, $KAGGLEHUB_CACHE)"
        page = "https://www.kaggle.com/models/" + "/".join(path.split("/")[:2])
    else:
        where = f"{handle} (its own cache)"
        page = handle
    return (
        f"{model}.preset {preset!r} is not in KerasHub's cache and could not be downloaded"
        f" ({reason}). KerasHub looks for it in {where}. On a machine with internet,"
        f' download it (`python -c "import keras_hub; keras_hub.models.'
        f"{TOWER_MODELS[model].backbone}.from_preset('{preset}')\"` fills that cache; or"
        f" from {page}), copy the preset directory (that folder: config.json,"
        " model.weights.h5, preprocessor.json, assets/) to this machine and set"
        f" {model}.preset to its path (`dvc exp run -S {model}.preset=/models/{preset}`)"
    )


def check_local_preset(model: str, preset: str) -> Path:
    """The directory of a local preset, checked; fails in one line if it is not one."""
    path = Path(preset).expanduser()
    if not (path / "config.json").is_file():
        what = "has no config.json" if path.is_dir() else "does not exist"
        raise TieError(
            f"{model}.preset {preset!r} {what}: give a KerasHub preset name (e.g."
            f" {'clip_vit_base_patch32' if model == 'clip' else 'siglip_base_patch16_224'})"
            " or the path of a preset directory (config.json, model.weights.h5, assets/)"
        )
    return path.resolve()


def preset_fingerprint(model: str, preset: str) -> str:
    """What the preset's outputs depend on: its name, or the content of its directory.

    A preset name with a version on Kaggle does not change; a local directory is
    identified by the sha256 of its files, so replacing its weights is noticed.
    """
    if not is_local_preset(preset):
        return preset
    folder = check_local_preset(model, preset)
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"
