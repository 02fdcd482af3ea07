"""Stage `custom_example`: a small captioned folder (FOLDER/images, FOLDER/captions.csv).

The default of params.yaml's `custom` section, so that `dataset: custom` runs out of the
box and shows the layout your own folder takes (see docs/datasets.md).
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import check_params, read_params
from tie.datasets.custom import write_example


@click.command(cls=Command)
@click.argument("folder", type=click.Path(path_type=Path))
def main(folder: Path) -> None:
    check_params(read_params())  # reads none, but the first stage to run stops a bad file
    write_example(folder)
    click.echo(f"wrote an example custom dataset to {folder}")


if __name__ == "__main__":
    main()
