"""Stage `data`: write the raw files of `dataset` into RAW_DIR (generated, or fetched + checked).

Last, RAW_DIR/manifest.json: every file's name, size and MD5 (`tie.datasets.manifest`), the dep of
the stages that need the folder's content but not its files.
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.config.paths import DOWNLOADS
from tie.datasets.kinds import dataset_kind
from tie.datasets.manifest import write_manifest


@click.command(cls=Command)
@click.argument("raw_dir", type=click.Path(path_type=Path))
@click.option(
    "--downloads",
    default=DOWNLOADS,
    type=click.Path(path_type=Path),
    show_default=True,
    help="Where real datasets' archives are kept between runs (not a DVC output).",
)
def main(raw_dir: Path, downloads: Path) -> None:
    params = load_params(
        "dataset", "split", "demo", "webdataset", "raw", "custom.images", "custom.captions"
    )
    kind = dataset_kind(params.dataset)
    report = kind.prepare(raw_dir, params, downloads)
    for line in kind.prepared_lines(report, raw_dir) if report else []:
        click.echo(line)
    manifest = write_manifest(raw_dir)
    click.echo(f"wrote {params.dataset} to {raw_dir} (its files listed in {manifest})")


if __name__ == "__main__":
    main()
