"""The image_features stage's work: encoder `image` on every image, here or on Ray."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tie.engine.engine import LOCAL, Engine
from tie.image.encoders import build_image_encoder
from tie.image.extract import extract_features


def extract_images(
    params: dict, sources: list, out: Path, names: list[str], engine: Engine = LOCAL
) -> dict:
    """Write the features of `sources` (files or tar members, named `names`) to `out`.

    Returns the report: the encoder's settings, its dimension and the unreadable images
    (name -> reason), whose rows are zeros. On Ray, each actor builds its own encoder.
    """
    name = params["image"]
    encoder = build_image_encoder(name, params)
    encode_shards = None  # here, in this process
    if engine.on_ray:
        from tie.image.ray import shard_encoder

        encode_shards = shard_encoder(partial(build_image_encoder, name, params), engine.compute)
    with engine.session():
        unreadable = extract_features(
            encoder,
            sources,
            out,
            names,
            max_pixels=params["image_decode"]["max_pixels"],
            encode_shards=encode_shards,
        )
    return {"encoder": encoder.fingerprint(), "dim": encoder.dim, "unreadable": unreadable}
