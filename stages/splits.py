"""Stage `splits`: read RAW_DIR, split the params `split` way, into one split file, SPLITS_FILE.

IMAGE_LIST gets the images by name, one a line: what `image_features` computes, so that
another split of the same images does not compute them again. What only the dataset's
files can tell about params.yaml (a custom captions file: enough images in `eval.split`
for `eval.ks`) is checked first.
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.datasets.kinds import dataset_kind


@click.command(cls=Command)
@click.argument("raw_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("splits_file", type=click.Path(path_type=Path))
@click.argument("image_list", type=click.Path(path_type=Path))
def main(raw_dir: Path, splits_file: Path, image_list: Path) -> None:
    params = load_params(
        "dataset",
        "split",
        "custom.images",
        "custom.captions",
        "custom.val_fraction",
        "custom.test_fraction",
        "custom.split_seed",
        "custom.same_picture",
        "webdataset",
        "eval.split",
        "eval.ks",
    )
    kind = dataset_kind(params.dataset)
    kind.check_files(params)
    corpus = kind.read(raw_dir, params)
    for line in kind.read_lines(corpus):
        click.echo(line)
    for split, n in corpus.counts().items():
        click.echo(f"{split}: {n['images']} images, {n['captions']} captions")
    corpus.save(splits_file)
    image_list.write_text("".join(f"{image}\n" for image in corpus.image_list()))


if __name__ == "__main__":
    main()
