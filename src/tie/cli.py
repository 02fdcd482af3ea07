"""The `tie` command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tie.datasets.real import obtain_archives
from tie.datasets.sources import SOURCES
from tie.params import choices
from tie.report import format_table


@click.group()
def main() -> None:
    """Joint text-image embeddings by CCA (run the pipeline with `dvc repro`)."""


@main.command()
@click.argument("metrics_file", default="metrics/retrieval.json", type=click.Path(path_type=Path))
def show(metrics_file: Path) -> None:
    """Print the retrieval table of METRICS_FILE (default: metrics/retrieval.json)."""
    if not metrics_file.exists():
        raise click.ClickException(f"{metrics_file} does not exist: run `dvc repro` first")
    click.echo(format_table(json.loads(metrics_file.read_text())))


@main.command(name="list")
def list_choices() -> None:
    """List the valid values of `dataset`, `text` and `image` in params.yaml."""
    for key, names in choices().items():
        click.echo(f"{key}: {', '.join(names)}")


@main.group()
def data() -> None:
    """Real datasets' raw files."""


@data.command()
@click.argument("dataset", type=click.Choice(sorted(SOURCES)))
@click.option(
    "--downloads",
    default="data/downloads",
    type=click.Path(path_type=Path),
    show_default=True,
    help="Folder for the archives; the pipeline's `data` stage looks for them there.",
)
def fetch(dataset: str, downloads: Path) -> None:
    """Download DATASET's archives (resumable, checked) without running the pipeline.

    Set TIE_DOWNLOAD_MIRROR=<url> to fetch every file from <url>/<file name> instead.
    """
    for name, path in obtain_archives(dataset, SOURCES[dataset], downloads).items():
        click.echo(f"{name}: {path}")
