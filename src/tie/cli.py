"""The `tie` command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

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
