"""Stage `image_features`: one row per image of the corpus, from the `image` encoder.

Features are written in shards beside OUT, so an interrupted run resumes (see
`tie.image.extract`); REPORT records the encoder's settings and unreadable images. The
shards are encoded here or on a Ray cluster (section `compute`, not a DVC param: both
engines write the same bytes, see `tie.compute`).
"""

import json
from functools import partial
from pathlib import Path

import click

from tie.commands import Command
from tie.compute import compute_session, load_compute
from tie.corpus import Corpus
from tie.datasets import image_sources
from tie.image import build_image_encoder
from tie.image.extract import extract_features
from tie.params import load_params


@click.command(cls=Command)
@click.argument("raw_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("report_file", type=click.Path(path_type=Path))
def main(raw_dir: Path, splits_file: Path, out: Path, report_file: Path) -> None:
    params = load_params("dataset", "image", "backbone", "clip", "siglip")
    corpus = Corpus.load(splits_file)
    encoder = build_image_encoder(params["image"], params)
    if encoder.fingerprint().get("weights") == "none":
        click.echo(f"{params['image']}: random weights (backbone.weights: none), for tests only")
    paths = image_sources(params["dataset"], raw_dir, corpus.images)
    compute = load_compute()
    encode_shards = None  # here, in this process
    if compute["engine"] == "ray":
        from tie.cluster.encode import shard_encoder

        encode_shards = shard_encoder(
            partial(build_image_encoder, params["image"], params), compute
        )
    with compute_session(compute):
        unreadable = extract_features(
            encoder, paths, out, corpus.images, encode_shards=encode_shards
        )
    for name in unreadable:
        click.echo(f"unreadable image, its row is zeros: {name}", err=True)
    report = {"encoder": encoder.fingerprint(), "dim": encoder.dim, "unreadable": unreadable}
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"{params['image']}: {len(paths)} images x {encoder.dim} -> {out}")


if __name__ == "__main__":
    main()
