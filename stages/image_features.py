"""Stage `image_features`: one row per image of the corpus, from the `image` encoder."""

from pathlib import Path

import click

from tie.corpus import Corpus
from tie.datasets import image_dir
from tie.features import save_features
from tie.image import IMAGE_ENCODERS
from tie.params import load_params


@click.command()
@click.argument("raw_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def main(raw_dir: Path, splits_file: Path, out: Path) -> None:
    params = load_params()
    corpus = Corpus.load(splits_file)
    images = image_dir(params["dataset"], raw_dir)
    encoder = IMAGE_ENCODERS[params["image"]]()
    features = encoder.encode([images / name for name in corpus.images])
    save_features(out, features, corpus.images)
    click.echo(f"{params['image']}: {features.shape[0]} images x {features.shape[1]} -> {out}")


if __name__ == "__main__":
    main()
