"""Stage `text_features`: one row per caption, from the `text` encoder.

A word-vector encoder: the mean (or the Fisher vector) of the caption's word vectors,
from the `vocab` stage's file (VOCAB_FILE); `tokenizer` says how captions become words,
`caption_vectors` how their vectors are combined, the mixture (MIXTURE_DIR, a note with
mean pooling) how Fisher vectors are formed and stored. A sentence encoder (`clip`,
`siglip`): the text tower on the whole caption, configured by its section; VOCAB_FILE is
then the `vocab` stage's placeholder (see tie.text.sentence). The work is
`tie.text.features.write_caption_features`, here or on Ray (section `compute`, not a DVC
param: both engines write the same bytes).
"""

import json
from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.config.registry import SPLITS
from tie.corpus.corpus import Corpus
from tie.engine.engine import load_engine
from tie.text.features import write_caption_features


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("vocab_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("coverage_file", type=click.Path(path_type=Path))
@click.option(
    "--mixture", "mixture_dir", required=True, type=click.Path(exists=True, path_type=Path)
)
def main(
    splits_file: Path, vocab_file: Path, out: Path, coverage_file: Path, mixture_dir: Path
) -> None:
    params = load_params(
        "dataset",
        "text",
        "tokenizer",
        "caption_vectors",
        "fisher.store",
        "clip",
        "siglip",
    )
    corpus = Corpus.load(splits_file)
    report = write_caption_features(params, corpus, vocab_file, mixture_dir, out, load_engine())
    coverage_file.write_text(json.dumps(report, indent=2) + "\n")
    if report.get("kind") == "sentence":
        click.echo(f"{params.text}: {len(corpus.caption_ids)} captions x {report['dim']} -> {out}")
        return
    for split in SPLITS:
        click.echo(
            f"{split}: {report[split]['token_coverage']:.1%} of tokens known,"
            f" {report[split]['caption_coverage']:.1%} of captions fully known,"
            f" {report[split]['empty_captions']} captions with no known word (kept as zeros)"
        )


if __name__ == "__main__":
    main()
