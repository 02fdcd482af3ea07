"""Stage `cca`: fit CCA on the train split's (image, caption) pairs; save to MODEL_DIR."""

from pathlib import Path

import click
import numpy as np

from tie.cca import CCA
from tie.corpus import Corpus
from tie.errors import TieError
from tie.features import load_features
from tie.params import load_params


@click.command()
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("image_features", type=click.Path(path_type=Path))
@click.argument("text_features", type=click.Path(path_type=Path))
@click.argument("model_dir", type=click.Path(path_type=Path))
def main(splits_file: Path, image_features: Path, text_features: Path, model_dir: Path) -> None:
    params = load_params()
    corpus = Corpus.load(splits_file)
    X = load_features(image_features, corpus.images)
    Y = load_features(text_features, corpus.caption_ids)
    train = corpus.split_view("train")
    try:
        model = CCA(**params["cca"]).fit(
            X[train.image_rows], Y[train.caption_rows], image_index=train.caption_image_index
        )
    except ValueError as error:  # a `cca` param that does not fit these features
        raise TieError(f"{error} (params.yaml, section `cca`)") from error
    model.save(model_dir)
    top = np.array2string(model.correlations_[:5], precision=3)
    click.echo(f"CCA on {len(train.image_rows)} train images: top correlations {top}")


if __name__ == "__main__":
    main()
