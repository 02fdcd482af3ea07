"""Stage `custom_example`: a small captioned folder (FOLDER/images, FOLDER/captions.csv).

The default of params.yaml's `custom` section, so that `dataset: custom` runs out of the
box and shows the layout your own folder takes (see docs/datasets.md).
"""

from pathlib import Path

import click

from tie.datasets.custom import write_example


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
def main(folder: Path) -> None:
    write_example(folder)
    click.echo(f"wrote an example custom dataset to {folder}")


if __name__ == "__main__":
    main()
