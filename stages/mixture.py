"""Stage `mixture`: fit the Fisher-vector encoder (`fisher` section) on word vectors.

Only with `caption_vectors.pooling: fisher` and word vectors; with `mean`, or a sentence
encoder (`clip`, `siglip`: whole captions, no words to pool), the stage writes a note that
nothing was fitted, so that the pipeline's shape does not depend on the choice. The
mixture(s) and the optional PCA/ICA are fitted on the word vectors of the train captions
(`fisher.fit_on`: each distinct word once, or every token), or on a seeded sample of
`fisher.sample_size` words of the `text` encoder's whole pretrained table
(`pretrained_sample`, as Klein et al.; no caption is read); never on val or test.
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.config.registry import TEXT_ENCODERS
from tie.corpus.corpus import Corpus
from tie.text.fit import few_words_warning, fit_fisher_encoder, mixture_warnings

UNUSED_NOTE = "unused.txt"


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("vocab_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def main(splits_file: Path, vocab_file: Path, out: Path) -> None:
    params = load_params(
        "text",
        "caption_vectors.pooling",
        "tokenizer",
        "fisher.mixture",
        "fisher.normalize",
        "fisher.n_components",
        "fisher.reduce",
        "fisher.reduced_dim",
        "fisher.fit_on",
        "fisher.sample_size",
        "fisher.max_iter",
        "fisher.seed",
    )
    out.mkdir(parents=True, exist_ok=True)
    if params.caption_vectors.pooling != "fisher":
        (out / UNUSED_NOTE).write_text("caption_vectors.pooling is not fisher: no mixture\n")
        click.echo("caption_vectors.pooling is not fisher: no mixture to fit")
        return
    if TEXT_ENCODERS[params.text].kind == "sentence":
        note = f"{params.text} is a sentence encoder: no word vectors, no mixture"
        (out / UNUSED_NOTE).write_text(note + "\n")
        click.echo(f"{note} to fit")
        return
    fit_on = params.fisher.fit_on
    corpus = None if fit_on == "pretrained_sample" else Corpus.load(splits_file)
    encoder, n_vectors = fit_fisher_encoder(params, corpus, vocab_file)
    encoder.save(out)
    warning = few_words_warning(encoder.n_components, n_vectors, fit_on)
    if warning:
        click.echo(warning, err=True)
    for fitted in encoder.summary():
        click.echo(
            f"{fitted['mixture']}: K={encoder.n_components} on {n_vectors} {fit_on} vectors"
            f" ({encoder.dim_}-d), mean log-likelihood {fitted['log_likelihood']:.3f} after"
            f" {fitted['n_iter']} EM iteration{'' if fitted['n_iter'] == 1 else 's'},"
            f" {fitted['gaussian_share']:.0%} Gaussian dims"
        )
    for warning in mixture_warnings(encoder.summary()):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Fisher vectors of {encoder.n_features_out} dimensions -> {out}")


if __name__ == "__main__":
    main()
