"""Image encoders by name: `colorgrid`, any keras.applications CNN (`vgg19`, ...), or the
vision tower of `clip` / `siglip` (tie.towers.models).

An encoder gives `dim`, `fingerprint()` and `feature_batches(paths)` (see
`tie.image.extract`, which writes its features in resumable shards). Backbones that
need TensorFlow import it only when they are built, so that choosing `colorgrid`
never loads it.
"""

from functools import partial

from tie.image.colorgrid import ColorGrid
from tie.image.keras_backbone import KerasBackbone
from tie.image.keras_models import KERAS_MODELS
from tie.image.tower import TowerImageEncoder
from tie.towers.models import TOWER_MODELS

BUILDERS = {
    "colorgrid": ColorGrid,
    **{name: partial(KerasBackbone, name) for name in KERAS_MODELS},
    **{name: partial(TowerImageEncoder, name) for name in TOWER_MODELS},
}


def build_image_encoder(name: str, settings: dict | None = None):
    """The encoder `name`, configured by `settings`: the keys of its params.yaml section
    (`backbone` for CNNs, `clip` / `siglip` for a tower, none for `colorgrid`)."""
    if name in KERAS_MODELS:
        return KerasBackbone(name, **(settings or {}))
    if name in TOWER_MODELS:
        return TowerImageEncoder(name, **settings)
    return BUILDERS[name]()
