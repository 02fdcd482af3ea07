"""Stage `evaluate`: score the eval split both ways, write plots, log to MLflow, write metrics.

`main` reads as its steps: load the split's embeddings, choose the scoring's params on val
(`eval.scoring` other than cosine: banks from train), score (with bootstrap intervals),
write the per-query ranks and the plots, log the run (with the joint model as an MLflow
model, embedding with VOCAB and MIXTURE, and the splits as its inputs), write the metrics
file (the steps: `tie.evaluation.evaluate`).

The metrics file is written last, once the MLflow run is logged (or found already
logged, by its fingerprint), so that DVC never records this stage as done while its
MLflow run is missing: a failed or killed logging leaves the metrics file absent.
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.corpus.corpus import Corpus
from tie.evaluation.embeddings import load_split_embeddings
from tie.evaluation.evaluate import (
    choose_scoring,
    log_run,
    run_contents,
    score_split,
    write_metrics,
    write_plots,
)
from tie.evaluation.tracking import tracking_uri
from tie.joint.space import load_joint_model
from tie.redact import redact


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("image_features", type=click.Path(path_type=Path))
@click.argument("text_features", type=click.Path(path_type=Path))
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("metrics_file", type=click.Path(path_type=Path))
@click.argument("curves_file", type=click.Path(path_type=Path))
@click.argument("ranks_file", type=click.Path(path_type=Path))
@click.option("--raw-dir", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--gallery", "gallery_file", required=True, type=click.Path(path_type=Path))
@click.option(
    "--cca-grid", "grid_file", required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option("--scoring-selection", "scoring_file", required=True, type=click.Path(path_type=Path))
@click.option("--vocab", "vocab_file", required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mixture", "mixture_dir", required=True, type=click.Path(exists=True, path_type=Path)
)
def main(
    splits_file: Path,
    image_features: Path,
    text_features: Path,
    model_dir: Path,
    metrics_file: Path,
    curves_file: Path,
    ranks_file: Path,
    raw_dir: Path,
    gallery_file: Path,
    grid_file: Path,
    scoring_file: Path,
    vocab_file: Path,
    mixture_dir: Path,
) -> None:
    metrics_file.unlink(missing_ok=True)  # present only once the run is logged
    params = load_params(
        "dataset",
        "image",
        "text",
        "eval",
        # what the logged MLflow model embeds new captions and images with
        "tokenizer",
        "caption_vectors",
        "image_decode",
        "backbone",
        "clip",
        "siglip",
    )
    corpus = Corpus.load(splits_file)
    model = load_joint_model(model_dir)
    split = load_split_embeddings(corpus, params.eval.split, image_features, text_features, model)
    scoring, bank = choose_scoring(corpus, params.eval, image_features, text_features, model)
    if scoring.rule != "cosine":
        selection = scoring.selection()
        click.echo(
            f"scoring chosen on val: {scoring.describe()}, rsum {selection['val_criterion']}"
            f" (cosine: {selection['cosine_val_criterion']})"
        )
    write_metrics(scoring_file, scoring.selection())
    metrics, query_ranks = score_split(split, corpus, params.eval, scoring, bank)
    click.echo(
        f"{params.dataset} {params.eval.split}, {params.image} + {params.text},"
        f" scoring {scoring.rule}:"
        f" R@1 {metrics['image_search']['R_at_1']:.1f} (image search),"
        f" {metrics['image_annotation']['R_at_1']:.1f} (image annotation); the table: `tie show`"
    )
    query_ranks.write(ranks_file)
    write_plots(
        split,
        query_ranks,
        corpus,
        params,
        raw_dir=raw_dir,
        curves_file=curves_file,
        gallery_file=gallery_file,
    )
    where = redact(tracking_uri())
    click.echo(f"logging the run to MLflow at {where} (plots, params, metrics, model)")
    run_id, logged = log_run(
        params,
        model,
        metrics,
        text_features=text_features,
        curves_file=curves_file,
        artifacts=[gallery_file, ranks_file, model_dir / "cca.json", grid_file, scoring_file],
        scoring=scoring,
        in_run=run_contents(
            params,
            corpus,
            split,
            model_dir=model_dir,
            vocab_file=vocab_file,
            mixture_dir=mixture_dir,
            manifest_file=raw_dir / "manifest.json",
            scoring=scoring,
        ),
    )
    if logged:
        click.echo(f"logged to MLflow at {where}: run {run_id}")
    else:
        click.echo(f"MLflow at {where} already holds this result: run {run_id}")
    write_metrics(metrics_file, metrics)


if __name__ == "__main__":
    main()
