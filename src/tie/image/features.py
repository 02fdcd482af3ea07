"""The image_features stage's work: encoder `image` on every image, here or on Ray."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tie.config.registry import IMAGE_ENCODERS
from tie.engine.engine import LOCAL, Engine
from tie.image.encoders import build_image_encoder
from tie.image.extract import extract_features


def extract_images(
    params, sources: list, out: Path, names: list[str], engine: Engine = LOCAL
) -> dict:
    """Write the features of `sources` (files or tar members, named `names`) to `out`.

    `params` (typed, `tie.config.params`): `image`, `image_decode` and the section that
    configures the encoder (`backbone`, `clip` or `siglip`). Returns the report: the
    encoder's settings, its dimension and the unreadable images (name -> reason), whose
    rows are zeros. On Ray, each actor builds its own encoder.
    """
    name = params.image
    sections = IMAGE_ENCODERS[name].sections
    settings = getattr(params, sections[0]).model_dump() if sections else None
    encoder = build_image_encoder(name, settings)
    encode_shards = None  # here, in this process
    if engine.on_ray:
        from tie.image.ray import shard_encoder

        encode_shards = shard_encoder(partial(build_image_encoder, name, settings), engine.compute)
    with engine.session():
        unreadable = extract_features(
            encoder,
            sources,
            out,
            names,
            max_pixels=params.image_decode.max_pixels,
            encode_shards=encode_shards,
        )
    return {"encoder": encoder.fingerprint(), "dim": encoder.dim, "unreadable": unreadable}
