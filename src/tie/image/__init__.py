"""Image encoders by name: `colorgrid`, or any keras.applications CNN (`vgg19`, ...).

An encoder gives `dim`, `fingerprint()` and `feature_batches(paths)` (see
`tie.image.extract`, which writes its features in resumable shards). Backbones that
need TensorFlow import it only when they are built, so that choosing `colorgrid`
never loads it.
"""

from functools import partial

from tie.image.colorgrid import ColorGrid
from tie.image.keras_backbone import KerasBackbone
from tie.image.keras_models import KERAS_MODELS

IMAGE_ENCODERS = {
    "colorgrid": ColorGrid,
    **{name: partial(KerasBackbone, name) for name in KERAS_MODELS},
}


def build_image_encoder(name: str, params: dict):
    """The encoder `name`, configured by params.yaml (section `backbone` for CNNs)."""
    if name in KERAS_MODELS:
        return KerasBackbone(name, **params.get("backbone", {}))
    return IMAGE_ENCODERS[name]()
