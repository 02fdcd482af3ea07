"""The evaluate stage's steps: score the eval split, write the plots, log to MLflow, write
the metrics file (`stages/evaluate.py` calls them in that order)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tie.config.lock import Lock, flat_entry_params, running_entry
from tie.config.params import flatten
from tie.config.registry import CCA_PARAMS, SPLITS
from tie.config.schema import Eval
from tie.corpus.corpus import Corpus
from tie.evaluation.bootstrap import add_uncertainty
from tie.evaluation.embeddings import SplitEmbeddings, load_split_embeddings
from tie.evaluation.folds import FOLD_PROTOCOLS, score_folds
from tie.evaluation.gallery import write_gallery
from tie.evaluation.query_ranks import QueryRanks
from tie.evaluation.report import plot_recall_curves, write_recall_curves
from tie.evaluation.scoring import ScoringChoice, choose_on_val, ranks_function
from tie.evaluation.tracking import fingerprint, log_evaluation, metric_names
from tie.joint.retrieval import metrics_from_ranks, protocol_counts
from tie.joint.space import ZeroShot
from tie.raw.layout import image_sources
from tie.recorded import check_recorded


def coverage_metrics(text_features: Path) -> dict[str, float]:
    """`text_coverage/<split>/tokens` and `.../captions`: shares the vocabulary covers.

    None for a sentence encoder (CLIP, SigLIP): its tokenizer has no unknown words.
    """
    check_recorded(text_features.with_suffix(".coverage.json"))
    report = json.loads(text_features.with_suffix(".coverage.json").read_text())
    if report.get("kind") == "sentence":
        return {}
    metrics = {
        f"text_coverage/{split}/{what}": report[split][f"{what[:-1]}_coverage"]
        for split in SPLITS
        for what in ("tokens", "captions")
    }
    for fitted in report.get("fisher", []):  # Fisher-vector pooling: the mixture's fit
        for key in ("log_likelihood", "n_iter", "gaussian_share"):
            metrics[f"fisher/{fitted['mixture']}/{key}"] = fitted[key]
    return metrics


def choose_scoring(
    corpus: Corpus, settings: Eval, image_features: Path, text_features: Path, model
) -> tuple[ScoringChoice, tuple | None]:
    """`eval.scoring` and its params chosen on val (section `eval`), and the banks (train
    rows in the joint space: images, captions); cosine needs neither val nor banks."""
    rule = settings.scoring
    if rule == "cosine":
        return ScoringChoice(rule, {}), None
    train = load_split_embeddings(corpus, "train", image_features, text_features, model)
    val = load_split_embeddings(corpus, "val", image_features, text_features, model)
    bank = (train.images, train.captions)
    choice = choose_on_val(
        rule,
        settings.hubness,
        val.images,
        val.captions,
        val.view.caption_image_index,
        bank,
        settings.memory_budget_mb,
    )
    return choice, bank


def score_split(
    split: SplitEmbeddings,
    corpus: Corpus,
    settings: Eval,
    scoring: ScoringChoice | None = None,
    bank: tuple | None = None,
) -> tuple[dict, QueryRanks]:
    """The metrics file's content, and the per-query ranks of both directions.

    Beside the five metrics, each direction records its bootstrap intervals (with
    `eval.bootstrap.n` > 0) and its protocol counts, and `rsum` sums both directions'
    R@1, R@5 and R@10; a dataset with a fold protocol (COCO's 1K) adds its averaged
    metrics under their own key. Ranks are by `scoring` (`choose_scoring`; cosine if None),
    whose banks are `bank`. `settings`: section `eval`.
    """
    budget, ks = settings.memory_budget_mb, settings.ks
    index = split.view.caption_image_index
    scoring = ScoringChoice("cosine", {}) if scoring is None else scoring
    rank = ranks_function(scoring, bank, budget)
    search, annotation = rank(split.images, split.captions, index)
    query_ranks = QueryRanks.of(
        [corpus.images[r] for r in split.view.image_rows],
        [corpus.caption_ids[r] for r in split.view.caption_rows],
        index,
        search,
        annotation,
    )
    bootstrap = settings.bootstrap
    metrics = add_uncertainty(
        metrics_from_ranks(search, annotation, ks),
        *query_ranks.ranks,
        query_ranks.caption_image_index,
        ks,
        bootstrap.n,
        bootstrap.seed,
    )
    n_images, n_captions = len(split.images), len(split.captions)
    for direction, counts in protocol_counts(n_images, n_captions).items():
        metrics[direction] |= counts
    if settings.split == "test" and corpus.dataset in FOLD_PROTOCOLS:
        name, n_folds = FOLD_PROTOCOLS[corpus.dataset]
        by = None if scoring.rule == "cosine" else rank
        folds = score_folds(split.images, split.captions, index, n_folds, ks, budget, by)
        per_fold = protocol_counts(n_images // n_folds, round(n_captions / n_folds))
        for direction, counts in per_fold.items():
            folds[direction] |= counts
        metrics[name] = folds
    return metrics, query_ranks


def write_plots(
    split: SplitEmbeddings,
    query_ranks: QueryRanks,
    corpus: Corpus,
    params: dict,
    *,
    raw_dir: Path,
    curves_file: Path,
    gallery_file: Path,
) -> None:
    """The recall-at-K curves (a DVC plot) and the gallery of retrieved examples."""
    max_k = min(params.eval.curve_max_k, len(split.images))
    write_recall_curves(curves_file, *query_ranks.ranks, max_k)
    names = [corpus.images[r] for r in split.view.image_rows]
    image_files = image_sources(params.dataset, raw_dir, names)
    caption_texts = [corpus.flat_captions[r] for r in split.view.caption_rows]
    index = split.view.caption_image_index
    write_gallery(gallery_file, image_files, caption_texts, split.images, split.captions, index)


def log_run(
    params: dict,
    model,
    metrics: dict,
    *,
    text_features: Path,
    curves_file: Path,
    artifacts: list[Path],
    scoring: ScoringChoice | None = None,
    in_run=None,
) -> tuple[str, bool]:
    """One MLflow run: the run's params, the joint model and the scoring chosen, the
    metrics, the plots, and what `in_run` logs inside it (`run_contents`: the datasets and
    the model, two steps of the run's progress lines).

    The params and the fingerprint come from the run's record, never from params.yaml:
    the entry DVC writes in dvc.lock for this evaluate stage (its command, its deps'
    content hashes, its params) and, for the params of the steps before it, their entries
    in dvc.lock (written as each one finished). A result already logged (the same
    fingerprint) is not logged twice. Returns the run's id and whether it was logged now.
    """
    main_metrics = {d: metrics[d] for d in ("image_search", "image_annotation")}
    extra_metrics = coverage_metrics(text_features)
    for name, values in metrics.items():
        if isinstance(values, dict) and name not in main_metrics:  # e.g. coco_1k
            extra_metrics |= {f"{name}/{k}": v for k, v in metric_names(values).items()}
        elif not isinstance(values, dict):  # rsum and its interval
            extra_metrics[name] = values
    # The cca params chosen on val, beside the values or lists given in params.yaml.
    if isinstance(model, ZeroShot):
        chosen = {"method": model.method}
    else:
        chosen = {name: getattr(model, name) for name in CCA_PARAMS}
    selected = {"cca_selected": chosen}
    if scoring is not None and scoring.rule != "cosine":  # the rule's params chosen on val
        selected["scoring_selected"] = scoring.params
    entry = running_entry("evaluate")
    lock = Lock.of_workspace()
    upstream = lock.flat_params(leaving_out=("evaluate",)) if lock is not None else {}
    logged_params = upstream | flat_entry_params(entry) | flatten(selected)
    result = fingerprint(entry)
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "recall_at_k.png"  # the curves as a picture, for the MLflow UI
        plot_recall_curves(curves_file, png, f"{params.dataset}: recall at K")
        run_id, logged = log_evaluation(
            params.dataset,
            logged_params,
            main_metrics,
            [curves_file, png, *artifacts],
            extra_metrics,
            result,
            in_run,
        )
    return run_id, logged


def run_contents(
    params: dict,
    corpus: Corpus,
    split: SplitEmbeddings,
    *,
    model_dir: Path,
    vocab_file: Path,
    mixture_dir: Path,
    manifest_file: Path,
    scoring: ScoringChoice | None = None,
):
    """What a new run logs beside its numbers: the joint model as an MLflow model
    (`tie.evaluation.mlflow_model`) and the train/val/test corpora as its inputs
    (`tie.evaluation.run_inputs`): two steps, each called inside the run."""

    def log_datasets() -> None:
        from tie.evaluation.run_inputs import log_split_datasets

        log_split_datasets(corpus, params.dataset, manifest_file)

    def log_model() -> None:
        from tie.evaluation.mlflow_model import log_joint_model

        log_joint_model(
            params,
            corpus=corpus,
            split=split,
            model_dir=model_dir,
            vocab_file=vocab_file,
            mixture_dir=mixture_dir,
            scoring_params=scoring.params if scoring is not None else {},
        )

    return [log_datasets, log_model]


def write_metrics(metrics_file: Path, metrics: dict) -> None:
    """Written whole or not at all: a partial file, then renamed."""
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    partial = metrics_file.with_name(metrics_file.name + ".partial")
    partial.write_text(json.dumps(metrics, indent=2) + "\n")
    partial.replace(metrics_file)
