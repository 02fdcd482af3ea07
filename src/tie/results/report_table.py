"""The results table of `tie report`: this repo's runs beside published rows, by protocol.

Runs come from DVC (the workspace and every experiment) or from MLflow (every finished
run). Each is labelled with its provenance (`tie.results.provenance`), read from the record of
that run. Runs are grouped by protocol (dataset, split scored, test images, test
captions); a published row appears only in the group of its own dataset and protocol
(Flickr8k and Flickr30k: 1,000 images / 5,000 captions; COCO 1K as the `coco_1k`
section of a COCO run). A run whose protocol no source shares is shown on its own,
compared with nothing.

Each group is one table: a row per run (and published row), the choices that tell the
runs apart as columns (the choices they share are said once, above the table), then
the metrics of both directions. A value is bold where it is the best of its column in
the group (highest recall, lowest rank) and the column's values differ. `sort_rows`
orders each group's runs by one metric and keeps the best N.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import subprocess
from dataclasses import dataclass, field

import click

from tie.config.registry import CCA_PARAMS
from tie.errors import TieError
from tie.evaluation.bootstrap import paired
from tie.evaluation.query_ranks import (
    QueryRanks,
    check_same_queries,
    mlflow_ranks,
    ranks_at,
    workspace_ranks,
)
from tie.joint.retrieval import DIRECTIONS, METRIC_DECIMALS, RSUM_KS
from tie.redact import redact
from tie.results.baselines import METRIC_KEYS, load_baselines
from tie.results.provenance import (
    Provenance,
    applicable,
    count,
    eval_counts,
    from_mlflow,
    protocol_text,
    provenance_at,
    workspace_provenance,
)

COLUMNS = [(d, k) for d in DIRECTIONS for k in METRIC_KEYS]
# As `dvc exp show --sort-by` names them; rsum: R@1+R@5+R@10 of both directions.
SORT_KEYS = [f"{d}.{k}" for d, k in COLUMNS] + ["rsum"]
SHORT_DIRECTIONS = {"image_search": "search", "image_annotation": "annotation"}
SHORT_COLUMNS = {
    "R_at_1": "R@1",
    "R_at_5": "R@5",
    "R_at_10": "R@10",
    "median_rank": "med. rank",
    "mean_rank": "mean rank",
}
# What made a run, in the order the columns show it.
CHOICES = ("dataset", "split", "text", "pooling", "image", *CCA_PARAMS, "scoring")
PUBLISHED_SPLIT = "test"  # every published row scores the test split


@dataclass
class Row:
    label: str
    kind: str  # published | workspace | experiment | mlflow
    metrics: dict  # {"image_search": {...}, "image_annotation": {...}}; absent = not given
    protocol: tuple  # (dataset, split scored, test images, test captions); None: unknown
    provenance: Provenance | None = None  # this repo's runs
    source: str = ""  # published rows
    ranks: QueryRanks | None = None  # per-query ranks, where recorded (paired comparisons)

    def value(self, direction: str, key: str) -> float | None:
        return self.metrics.get(direction, {}).get(key)

    def sort_value(self, sort_key: str) -> float | None:
        """The value of a SORT_KEYS entry: `<direction>.<metric>` or `rsum`."""
        if sort_key == "rsum":
            return self.metrics.get("rsum")
        return self.value(*sort_key.split("."))


def published_rows(dataset: str | None = None) -> list[Row]:
    """The published rows (of `dataset`, or all), each with the protocol its source states."""
    return [
        Row(
            f"{b.method} [{b.tag}]",
            "published",
            b.metrics,
            (b.dataset, PUBLISHED_SPLIT, b.n_test_images, b.n_test_captions),
            source=b.source,
        )
        for b in load_baselines()
        if dataset is None or b.dataset == dataset
    ]


def _rows_of_run(
    label: str, kind: str, metrics: dict, provenance: Provenance, ranks: QueryRanks | None = None
) -> list[Row]:
    """The run's row, plus one per extra protocol section (e.g. `coco_1k`: per-fold counts)."""
    rows = [Row(label, kind, metrics, provenance.protocol, provenance, ranks=ranks)]
    for name, values in metrics.items():
        if isinstance(values, dict) and "image_search" in values:
            images, captions = eval_counts(values)
            fold = Provenance(
                **(provenance.as_dict() | {"n_test_images": images, "n_test_captions": captions})
            )
            rows.append(Row(f"{label} [{name}]", kind, values, fold.protocol, fold))
    return rows


def dvc_rows() -> list[Row]:
    """The workspace, the commits `dvc exp show` lists (HEAD: the committed baseline) and
    every DVC experiment that has metrics, with their provenance and per-query ranks."""
    result = subprocess.run(
        ["dvc", "exp", "show", "--json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise TieError(redact(f"`dvc exp show --json` failed: {result.stderr.strip()}"))
    rows = []
    for commit in json.loads(result.stdout):
        if commit["rev"] == "workspace":
            runs = [("workspace", "workspace", workspace_provenance, workspace_ranks)]
        else:
            name = commit.get("name") or commit["rev"][:7]
            runs = [(name, "commit", *_recorded_at(commit["rev"], f"commit {name}"))]
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                name = rev.get("name") or experiment.get("name") or rev["rev"][:7]
                runs.append((name, "experiment", *_recorded_at(rev["rev"], f"experiment {name}")))
        for label, kind, record, ranks in runs:
            try:
                recorded = record()
            except TieError as error:  # no record of how it was produced: say so, go on
                click.echo(f"{label} left out: {error}", err=True)
                continue
            if recorded:
                rows += _rows_of_run(label, kind, *recorded, ranks())
    return rows


def without_applied_workspace(rows: list[Row]) -> tuple[list[Row], str | None]:
    """The rows without the workspace's when it is an experiment's run (`dvc exp run` and
    `dvc exp apply` leave it there: the same metrics, made the same way), and the name of
    that experiment (None: the workspace kept)."""
    for row in rows:
        if row.kind != "workspace":
            continue
        same = [
            r.label
            for r in rows
            if r.kind == "experiment"
            and r.metrics == row.metrics
            and r.provenance == row.provenance
        ]
        if same:
            return [r for r in rows if r.kind != "workspace"], same[0]
    return rows, None


def _recorded_at(rev: str, where: str) -> tuple:
    """(its metrics and provenance, its ranks): what a commit records, read when called."""
    return functools.partial(provenance_at, rev, where), functools.partial(ranks_at, rev)


def mlflow_rows(tracking_uri: str) -> list[Row]:
    """Every finished MLflow run of every experiment, oldest first, with its provenance."""
    import mlflow

    from tie.evaluation.tracking import FINGERPRINT_TAG, reading_store

    with reading_store(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        if not experiments:
            return []
        runs = client.search_runs(
            experiments, "attributes.status = 'FINISHED'", order_by=["start_time ASC"]
        )
    ours = [r for r in runs if {FINGERPRINT_TAG, "dvc.experiment"} & set(r.data.tags)]
    foreign = [r for r in runs if r not in ours]
    if foreign:  # a notebook's runs in the same store: nothing records how they were made
        names = ", ".join(str(r.info.run_name) for r in foreign[:3])
        click.echo(
            f"{len(foreign)} runs not made by this pipeline left out (no dvc.experiment tag):"
            f" {names}{', ...' if len(foreign) > 3 else ''}",
            err=True,
        )
    rows = []
    for run in ours:
        logged = run.data.metrics
        label = f"{run.info.run_name} ({run.data.tags.get('dvc.experiment', '')})"
        provenance = from_mlflow(run.data.params, logged)
        sections = {"": provenance}
        # Extra protocols are logged as `<section>/<direction>/<metric>` (e.g. coco_1k).
        parts = [key.split("/") for key in logged]
        fold_sections = {p[0] for p in parts if len(p) == 3 and p[1] in DIRECTIONS}
        for section in sorted(fold_sections):
            images = count(logged.get(f"{section}/image_search/n_candidates"))
            captions = count(logged.get(f"{section}/image_annotation/n_candidates"))
            sections[section] = Provenance(
                **(provenance.as_dict() | {"n_test_images": images, "n_test_captions": captions})
            )
        for section, section_provenance in sections.items():
            prefix = f"{section}/" if section else ""
            metrics = {
                d: {
                    f"{k}{bound}": logged[f"{prefix}{d}/{k}{bound}"]
                    for k in METRIC_KEYS
                    for bound in ("", "_low", "_high")
                    if f"{prefix}{d}/{k}{bound}" in logged
                }
                for d in DIRECTIONS
            }
            row_label = f"{label} [{section}]" if section else label
            ranks = None if section else mlflow_ranks(run.info.run_id, tracking_uri)
            rows.append(
                Row(
                    row_label,
                    "mlflow",
                    metrics,
                    section_provenance.protocol,
                    section_provenance,
                    ranks=ranks,
                )
            )
    return rows


@dataclass
class Group:
    """Rows measured on one protocol: only these may be compared with each other."""

    protocol: tuple
    rows: list[Row]
    # (row label, direction, metric) not significantly different from the reference row
    marked: set = field(default_factory=set)

    @property
    def title(self) -> str:
        dataset, split, images, captions = self.protocol
        return f"{dataset}, {protocol_text(split, images, captions)}"


def group_rows(ours: list[Row], published: list[Row]) -> tuple[list[Group], list[Row]]:
    """Groups of one protocol each (the published rows of it first), and the published
    rows of the runs' datasets that no run shares a protocol with (never compared)."""
    protocols = list(dict.fromkeys(row.protocol for row in ours))
    groups = [
        Group(p, [r for r in published if r.protocol == p] + [r for r in ours if r.protocol == p])
        for p in protocols
    ]
    datasets = {p[0] for p in protocols}
    apart = [r for r in published if r.protocol[0] in datasets and r.protocol not in protocols]
    return groups, apart


def sort_rows(groups: list[Group], sort_by: str | None, best: int | None) -> list[Group]:
    """Each group's runs best first by `sort_by` (a SORT_KEYS entry), the first `best` kept.

    Best first: the highest recall, the lowest rank; runs without the value come last.
    Published rows stay at the top of their group, as references. `best` alone sorts by
    image search R@1.
    """
    if sort_by is None and best is None:
        return groups
    sort_by = sort_by or "image_search.R_at_1"
    sign = 1 if sort_by.endswith("rank") else -1
    sorted_groups = []
    for group in groups:
        published = [r for r in group.rows if r.kind == "published"]
        runs = [r for r in group.rows if r.kind != "published"]
        runs.sort(
            key=lambda r: (r.sort_value(sort_by) is None, sign * (r.sort_value(sort_by) or 0))
        )
        sorted_groups.append(Group(group.protocol, published + runs[:best]))
    return sorted_groups


def best_values(rows: list[Row]) -> dict[tuple[str, str], float]:
    """The best value of each column whose values differ: highest recall, lowest rank."""
    best = {}
    for direction, key in COLUMNS:
        values = [v for r in rows if (v := r.value(direction, key)) is not None]
        if len(set(values)) > 1:
            best[direction, key] = min(values) if key.endswith("rank") else max(values)
    return best


def _cell(value: float | None, key: str) -> str:
    """Recall and mean rank with one decimal, median rank as short as it is (7, 6.5)."""
    if value is None:
        return ""
    return f"{value:g}" if key == "median_rank" else f"{value:.1f}"


def interval(row: Row, direction: str, key: str) -> tuple[float, float] | None:
    """The row's 95% bootstrap interval of a metric, where its metrics record one."""
    values = row.metrics.get(direction, {})
    if f"{key}_low" in values and f"{key}_high" in values:
        return values[f"{key}_low"], values[f"{key}_high"]
    return None


def reference_rows(rows: list[Row], reference: str | None) -> dict[tuple[str, str], Row]:
    """Per column, the row the others are tested against: `reference` (a row's label), or
    the first best row of the column."""
    if reference is not None:
        found = [row for row in rows if row.label == reference]
        return dict.fromkeys(COLUMNS, found[0]) if found else {}
    best = best_values(rows)
    return {
        column: next(r for r in rows if r.value(*column) == value) for column, value in best.items()
    }


def not_significant(
    rows: list[Row], reference: str | None, n_resamples: int, seed: int
) -> set[tuple[str, str, str]]:
    """(row label, direction, metric) of the cells whose difference from the column's
    reference row is not significant at 5%.

    Two runs with per-query ranks of the same queries: the paired bootstrap
    (`tie.evaluation.bootstrap.paired`: each resample draws the same images for both). A run
    and a published row (numbers only): whether the published value lies inside the run's
    95% interval.
    """
    references = reference_rows(rows, reference)
    differences = {}  # (row label, reference label): every metric's paired difference

    def paired_difference(row: Row, ref: Row, name: str):
        pair = (row.label, ref.label)
        if pair not in differences:
            index = row.ranks.caption_image_index
            differences[pair] = paired(
                row.ranks.ranks, ref.ranks.ranks, index, RSUM_KS, n_resamples, seed
            )
        return differences[pair][name]

    marked = set()
    for (direction, key), ref in references.items():
        name = f"{direction}/{key}"
        for row in rows:
            if row is ref or row.value(direction, key) is None or ref.value(direction, key) is None:
                continue
            has_ranks = row.ranks is not None and ref.ranks is not None
            if has_ranks and _same_queries(row, ref):
                same = not paired_difference(row, ref, name).significant
            elif row.kind == "published" and (bounds := interval(ref, direction, key)):
                same = bounds[0] <= row.value(direction, key) <= bounds[1]
            elif ref.kind == "published" and (bounds := interval(row, direction, key)):
                same = bounds[0] <= ref.value(direction, key) <= bounds[1]
            else:
                continue
            if same:
                marked.add((row.label, direction, key))
    return marked


def mark_significance(
    groups: list[Group], reference: str | None, n_resamples: int = 1000, seed: int = 0
) -> list[Group]:
    """Each group with its cells not significantly different from the reference marked."""
    return [
        Group(g.protocol, g.rows, not_significant(g.rows, reference, n_resamples, seed))
        for g in groups
    ]


def _same_queries(a: Row, b: Row) -> bool:
    try:
        check_same_queries(a.ranks, b.ranks, a.label, b.label)
    except TieError:
        return False
    return True


def _number(value) -> str:
    """A choice's value as params.yaml writes it: 2.0 stays 2.0, 0.0001 stays 0.0001."""
    return "" if value is None else str(value)


def pooling_text(pooling: dict, keys: set[str] | None = None) -> str:
    """How word vectors became a caption vector: `mean (idf=False, word_scaling=none)`;
    with `keys`, only those settings (the ones that tell the table's rows apart)."""
    method = pooling.get("caption_vectors.pooling")
    settings = {
        key.rsplit(".", 1)[-1]: value
        for key, value in applicable(pooling).items()
        if key != "caption_vectors.pooling" and (keys is None or key in keys)
    }
    details = ", ".join(f"{k}={_number(v)}" for k, v in settings.items())
    if method is None:
        return details
    return f"{method} ({details})" if details else str(method)


def choices(row: Row, pooling_keys: set[str] | None = None) -> dict[str, str]:
    """What made a run, as table cells (published rows: nothing); the pooling's settings
    all, or only `pooling_keys`."""
    p = row.provenance
    if p is None:
        return {}
    values = {"dataset": p.dataset, "split": p.split, "text": p.text}
    values |= {"pooling": pooling_text(p.pooling, pooling_keys), "image": p.image}
    values |= {name: p.cca.get(name) for name in CCA_PARAMS}
    values["scoring"] = p.scoring_text()
    return {name: _number(v) for name, v in values.items()}


def varying_choices(rows: list[Row]) -> tuple[list[str], dict[str, str]]:
    """(the choices that differ among the runs, the others with the value they share)."""
    made = [choices(row) for row in rows if row.provenance is not None]
    varying = [name for name in CHOICES if len({m[name] for m in made}) > 1]
    shared = {name: made[0][name] for name in CHOICES if made and name not in varying}
    return varying, {name: value for name, value in shared.items() if value}


def differing_pooling_settings(rows: list[Row]) -> set[str]:
    """The pooling settings (e.g. `fisher.mixture`) whose values differ among the runs."""
    poolings = [row.provenance.pooling for row in rows if row.provenance is not None]
    keys = {key for pooling in poolings for key in pooling}
    return {k for k in keys if len({_number(p[k]) for p in poolings if k in p}) > 1}


def _table(rows: list[Row], marked: set, reference: str | None = None) -> list[str]:
    """One markdown table: a row per run, its distinguishing choices, both directions.

    The pooling column, where pooling differs, names only the settings that differ (the
    rest are in each row's line under the table)."""
    best = best_values(rows)
    varying, shared = varying_choices(rows)
    pooling_keys = differing_pooling_settings(rows)
    lines = []
    if shared:
        lines += ["", "Every run here: " + ", ".join(f"{k} {v}" for k, v in shared.items()) + "."]
    metric_titles = [f"{SHORT_DIRECTIONS[d]} {SHORT_COLUMNS[k]}" for d, k in COLUMNS]
    lines += [
        "",
        "| run | " + " | ".join(varying + metric_titles) + " |",
        "|---|" + "---|" * len(varying) + "---:|" * len(COLUMNS),
    ]
    for row in rows:
        made = choices(row, pooling_keys)
        label = f"{row.label} (reference)" if row.label == reference else row.label
        cells = [label] + [made.get(name, "") for name in varying]
        for direction, key in COLUMNS:
            value = row.value(direction, key)
            cell = _cell(value, key)
            if value is not None and value == best.get((direction, key)):
                cell = f"**{cell}**"
            if (row.label, direction, key) in marked:
                cell += " ≈"
            if bounds := interval(row, direction, key):
                cell += f" [{_cell(bounds[0], key)}, {_cell(bounds[1], key)}]"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(
    groups: list[Group],
    apart: list[Row],
    reference: str | None = None,
    applied: str | None = None,
) -> str:
    """One section per protocol: its table, then what produced each row; `applied`: the
    experiment whose run the workspace holds (its row stands for the workspace)."""
    lines = [
        "## Retrieval results",
        "",
        "R@K in %; the best value of each column in bold,"
        " within a section: only rows of one dataset and protocol are compared."
        " In brackets: the 95% bootstrap interval (test images resampled). ≈: not"
        " significantly different from the column's best row, or the reference row (paired"
        " bootstrap, p >= 0.05; a published value: inside the run's interval).",
    ]
    if applied is not None:
        lines += ["", f"The workspace holds the run of experiment {applied}: its row."]
    if not groups:
        lines += ["", "No run with metrics yet: run `dvc repro`."]
    for group in groups:
        lines += ["", f"### {group.title}"]
        if not any(r.kind == "published" for r in group.rows):
            lines += ["", "No published row has this dataset and protocol: compared with none."]
        if reference is not None and any(r.label == reference for r in group.rows):
            lines += [
                "",
                f"≈ here: not significantly different from the reference row, {reference}.",
            ]
        lines += _table(group.rows, group.marked, reference)
        lines += ["", "What produced each row:", ""]
        for row in group.rows:
            what = row.source if row.kind == "published" else row.provenance.describe()
            lines.append(f"- {row.label}: {what}")
    if apart:
        lines += [
            "",
            "### Published rows of another protocol (not compared with the runs above)",
            "",
        ]
        for row in apart:
            dataset, split, images, captions = row.protocol
            protocol = protocol_text(split, images, captions) if images else "protocol not stated"
            lines.append(f"- {row.label}: {dataset}, {protocol}")
    return "\n".join(lines) + "\n"


def _rounded(metrics):
    """Metrics for reading: 4 decimals (70.39999999999999 is 70.4)."""
    if isinstance(metrics, dict):
        return {k: _rounded(v) for k, v in metrics.items()}
    return round(metrics, METRIC_DECIMALS) if isinstance(metrics, float) else metrics


def to_csv(groups: list[Group]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    what = ["dataset", "eval_split", "n_test_images", "n_test_captions", "text", "image", "cca"]
    what += ["scoring"]
    bounds = [f"{d}/{k}{bound}" for d, k in COLUMNS for bound in ("_low", "_high")]
    writer.writerow(["run", "kind", *what] + [f"{d}/{k}" for d, k in COLUMNS] + bounds)
    for group in groups:
        for row in group.rows:
            p = row.provenance
            made = (
                [p.text, p.image, " ".join(f"{k}={v}" for k, v in p.cca.items()), p.scoring_text()]
                if p
                else [""] * 4
            )
            values = [row.value(d, k) for d, k in COLUMNS]
            values += [row.value(*name.split("/")) for name in bounds]
            writer.writerow(
                [row.label, row.kind, *row.protocol, *made]
                + ["" if v is None else round(v, METRIC_DECIMALS) for v in values]
            )
    return out.getvalue()


def to_json(groups: list[Group], apart: list[Row]) -> str:
    records = []
    for group in groups:
        best = best_values(group.rows)
        dataset, split, images, captions = group.protocol
        records.append(
            {
                "dataset": dataset,
                "eval_split": split,
                "n_test_images": images,
                "n_test_captions": captions,
                "rows": [
                    {
                        "run": row.label,
                        "kind": row.kind,
                        "provenance": row.provenance.as_dict() if row.provenance else None,
                        "source": row.source or None,
                        "metrics": _rounded(row.metrics),
                        "best": [
                            f"{d}/{k}"
                            for d, k in COLUMNS
                            if row.value(d, k) is not None and row.value(d, k) == best.get((d, k))
                        ],
                        "not_significant": [
                            f"{d}/{k}" for d, k in COLUMNS if (row.label, d, k) in group.marked
                        ],
                    }
                    for row in group.rows
                ],
            }
        )
    not_compared = [{"run": r.label, "protocol": list(r.protocol)} for r in apart]
    return json.dumps({"groups": records, "not_compared": not_compared}, indent=2) + "\n"
