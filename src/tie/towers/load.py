"""Building a tower model from its preset (imports KerasHub, hence TensorFlow).

`load_backbone` and `load_image_converter` / `load_text_preprocessor` read the same
preset: the weights, and the preprocessing the model was trained with (its image
converter: resize, crop, rescale, normalise; its tokenizer and sequence length), so
nothing of it is re-implemented here. A preset name that cannot be downloaded fails
with a message saying where KerasHub looks for it and how to point the params at a
downloaded copy.
"""

from __future__ import annotations

from contextlib import contextmanager

from tie.config.registry import TOWER_DTYPES as DTYPES
from tie.errors import TieError
from tie.tensorflow_logs import import_tensorflow
from tie.towers.models import (
    TOWER_MODELS,
    check_local_preset,
    is_local_preset,
    unreachable_preset_message,
)


def _check(model: str, preset: str, dtype: str) -> str:
    if model not in TOWER_MODELS:
        raise TieError(f"unknown tower model {model!r}; valid: {', '.join(TOWER_MODELS)}")
    if dtype not in DTYPES:
        raise TieError(f"{model}.dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if is_local_preset(preset):
        return str(check_local_preset(model, preset))
    return preset


def whole_words(text: str, limit: int = 200) -> str:
    """`text`, or its first words within `limit` characters then ` ...`: never cut mid-word."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return f"{cut.rstrip()} ..."


def _keras_hub():
    """`keras_hub`, TensorFlow imported first without its start-up log (tie.tensorflow_logs)."""
    import_tensorflow()
    import keras_hub

    return keras_hub


@contextmanager
def _preset_errors(model: str, preset: str):
    """KerasHub's errors about a preset, as one line that says what to do."""
    keras_hub = _keras_hub()

    backbone_cls = getattr(keras_hub.models, TOWER_MODELS[model].backbone)
    try:
        yield
    except OSError as error:  # no network: requests' ConnectionError, kagglehub's timeouts
        if isinstance(error, FileNotFoundError) and is_local_preset(preset):
            raise TieError(f"{model}.preset {preset!r} is incomplete: {error}") from None
        handle = backbone_cls.presets.get(preset, {}).get("kaggle_handle", preset)
        reason = whole_words(str(error).splitlines()[0] if str(error) else repr(error))
        raise TieError(unreachable_preset_message(model, preset, handle, reason)) from None
    except ValueError as error:
        if "Unknown preset identifier" not in str(error):
            raise
        known = ", ".join(sorted(backbone_cls.presets))
        raise TieError(
            f"{model}.preset {preset!r} is neither a KerasHub preset name ({known}) nor a"
            " preset directory"
        ) from None


def with_dtype(config, dtype: str):
    """A copy of a Keras config with every layer's dtype policy set to `dtype`."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return dtype
        return {key: with_dtype(value, dtype) for key, value in config.items()}
    if isinstance(config, list):
        return [with_dtype(value, dtype) for value in config]
    return config


def load_backbone(model: str, preset: str, dtype: str = "float32"):
    """The `CLIPBackbone` / `SigLIPBackbone` of `preset`, its weights and compute in `dtype`.

    `from_preset(dtype=...)` sets the backbone's policy but not that of its vision and
    text encoders when the preset's config names theirs (KerasHub's presets do), so a
    `bfloat16` tower is rebuilt from the float32 one's config with every policy replaced,
    and its weights copied (cast on assignment).
    """
    preset = _check(model, preset, dtype)
    keras_hub = _keras_hub()

    backbone_cls = getattr(keras_hub.models, TOWER_MODELS[model].backbone)
    with _preset_errors(model, preset):
        backbone = backbone_cls.from_preset(preset)
    if dtype == "float32":
        return backbone
    converted = backbone_cls.from_config(with_dtype(backbone.get_config(), dtype))
    converted.set_weights(backbone.get_weights())
    return converted


def load_image_converter(model: str, preset: str):
    """The preset's own image preprocessing layer (float32; it runs inside tf.data)."""
    preset = _check(model, preset, "float32")
    keras_hub = _keras_hub()

    converter_cls = getattr(keras_hub.layers, TOWER_MODELS[model].image_converter)
    with _preset_errors(model, preset):
        return converter_cls.from_preset(preset)


def load_text_preprocessor(model: str, preset: str):
    """The preset's preprocessor for captions only: its tokenizer, lowercasing, packing."""
    preset = _check(model, preset, "float32")
    keras_hub = _keras_hub()

    preprocessor_cls = getattr(keras_hub.models, TOWER_MODELS[model].preprocessor)
    with _preset_errors(model, preset):
        return preprocessor_cls.from_preset(preset, image_converter=None)
