"""Stage `data`: write the raw files of `dataset` into RAW_DIR (the demo is generated)."""

from pathlib import Path

import click

from tie.datasets import prepare_dataset
from tie.params import load_params


@click.command()
@click.argument("raw_dir", type=click.Path(path_type=Path))
def main(raw_dir: Path) -> None:
    params = load_params()
    prepare_dataset(params["dataset"], raw_dir, params)
    click.echo(f"wrote {params['dataset']} to {raw_dir}")


if __name__ == "__main__":
    main()
