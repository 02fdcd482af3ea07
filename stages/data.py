"""Stage `data`: write the raw files of `dataset` into RAW_DIR (generated, or fetched + checked).

Last, RAW_DIR/manifest.json: every file's name, size and MD5 (`tie.datasets.manifest`), the dep of
the stages that need the folder's content but not its files.
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.config.paths import DOWNLOADS
from tie.datasets.manifest import write_manifest
from tie.datasets.prepare import prepare_dataset


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
    report = prepare_dataset(params.dataset, raw_dir, params, downloads)
    if report and params.dataset == "custom":
        click.echo(
            f"{report['images_copied']} of the {report['images_named']} images named by "
            f"custom.captions copied; {len(report['missing'])} missing, "
            f"{len(report['unreadable'])} unreadable (see {raw_dir}/extraction_report.json)"
        )
        for near_miss in [name for name in report["missing"] if "(no such file;" in name][:5]:
            click.echo(f"  missing: {near_miss}")
    elif report and params.dataset == "webdataset":
        bad = ", ".join(f"{n} {reason}" for reason, n in report["bad"].items() if n)
        click.echo(f"{report['good']} of {report['samples']} samples good; bad: {bad or 'none'}")
        click.echo(f"(every bad sample is named in {raw_dir}/report.json)")
    elif report:
        click.echo(
            f"{report['images_extracted']} of {report['expected_images']} images extracted and "
            f"readable; {report['missing_or_unreadable']} missing or unreadable"
        )
    manifest = write_manifest(raw_dir)
    click.echo(f"wrote {params.dataset} to {raw_dir} (its files listed in {manifest})")


if __name__ == "__main__":
    main()
