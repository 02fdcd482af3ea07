"""Stage `evaluate`: score the eval split both ways, write metrics and plots, log to MLflow."""

import json
import tempfile
from pathlib import Path

import click

from tie.cca import CCA
from tie.corpus import Corpus
from tie.features import load_features
from tie.model_selection import GRID_FILE, GRID_PARAMS
from tie.params import load_params
from tie.report import format_table, plot_recall_curves, write_recall_curves
from tie.retrieval import metrics_from_ranks, ranks
from tie.tracking import log_evaluation, tracking_uri


@click.command()
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("image_features", type=click.Path(path_type=Path))
@click.argument("text_features", type=click.Path(path_type=Path))
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("metrics_file", type=click.Path(path_type=Path))
@click.argument("curves_file", type=click.Path(path_type=Path))
def main(
    splits_file: Path,
    image_features: Path,
    text_features: Path,
    model_dir: Path,
    metrics_file: Path,
    curves_file: Path,
) -> None:
    params = load_params()
    settings = params["eval"]
    corpus = Corpus.load(splits_file)
    view = corpus.split_view(settings["split"])
    X = load_features(image_features, corpus.images)[view.image_rows]
    Y = load_features(text_features, corpus.caption_ids)[view.caption_rows]
    model = CCA.load(model_dir)
    images, captions = model.transform(X, Y)

    budget = settings["memory_budget_mb"]
    search, annotation = ranks(images, captions, view.caption_image_index, budget)
    metrics = metrics_from_ranks(search, annotation, settings["ks"])
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    max_k = min(settings["curve_max_k"], len(view.image_rows))
    write_recall_curves(curves_file, search, annotation, max_k)
    click.echo(f"{params['dataset']} {settings['split']}, {params['image']} + {params['text']}:")
    click.echo(format_table(metrics))

    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "recall_at_k.png"
        plot_recall_curves(curves_file, png, f"{params['dataset']}: recall at K")
        artifacts = [curves_file, png, model_dir / "cca.json", model_dir / GRID_FILE]
        # The cca params chosen on val, beside the values or lists given in params.yaml.
        chosen = {name: getattr(model, name) for name in GRID_PARAMS}
        log_evaluation(params["dataset"], params | {"cca_selected": chosen}, metrics, artifacts)
    click.echo(f"logged to MLflow at {tracking_uri()}")


if __name__ == "__main__":
    main()
