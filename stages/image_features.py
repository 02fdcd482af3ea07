"""Stage `image_features`: a row per image of IMAGE_LIST (files in IMAGES), by `image`.

It reads the images and their list only, not the splits: another split of the same
images finds its features computed already.

Features are written in shards beside OUT, so an interrupted run resumes (see
`tie.image.extract`); REPORT records the encoder's settings and the unreadable images
(name -> reason), whose rows are zeros. The shards are encoded here or on a Ray cluster
(section `compute`, not a DVC param: both engines write the same bytes, see
`tie.engine.engine`; the work is `tie.image.features.extract_images`). A webdataset's
IMAGES folder holds the index of its tar members.
"""

import json
from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.engine.engine import load_engine
from tie.image.features import extract_images
from tie.raw.layout import image_sources
from tie.recorded import check_recorded


@click.command(cls=Command)
@click.argument("images", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("image_list", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("report_file", type=click.Path(path_type=Path))
def main(images: Path, image_list: Path, out: Path, report_file: Path) -> None:
    params = load_params("dataset", "image", "image_decode", "backbone", "clip", "siglip")
    check_recorded(image_list)
    names = [name for name in image_list.read_text().split("\n") if name]  # "\n" only
    sources = image_sources(params.dataset, images.parent, names)
    report = extract_images(params, sources, out, names, load_engine())
    if report["encoder"].get("weights") == "none":
        click.echo(f"{params.image}: random weights (backbone.weights: none), for tests only")
    for name, reason in report["unreadable"].items():
        click.echo(f"unreadable image, its row is zeros: {images / name}: {reason}", err=True)
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"{params.image}: {len(sources)} images x {report['dim']} -> {out}")


if __name__ == "__main__":
    main()
