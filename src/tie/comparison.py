"""The results table of `tie report`: published rows, then this repo's runs, one row each.

Runs come from DVC (the workspace and every experiment, read from `dvc exp show
--json`) or from MLflow (every run in the experiment of the dataset). Rows on other
datasets are left out. The best value of each column is marked: the highest recall,
the lowest rank.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import dataclass

from tie.baselines import DIRECTIONS, METRIC_KEYS, load_baselines
from tie.errors import TieError
from tie.redact import redact

METRICS_PATH = "metrics/retrieval.json"
COLUMN_TITLES = {
    "R_at_1": "R@1",
    "R_at_5": "R@5",
    "R_at_10": "R@10",
    "median_rank": "Median Rank",
    "mean_rank": "Mean Rank",
}
DIRECTION_TITLES = {"image_search": "Image Search", "image_annotation": "Image Annotation"}
COLUMNS = [(d, k) for d in DIRECTIONS for k in METRIC_KEYS]


@dataclass
class Row:
    label: str
    kind: str  # published | workspace | experiment | mlflow
    metrics: dict  # {"image_search": {...}, "image_annotation": {...}}; absent = not given

    def value(self, direction: str, key: str) -> float | None:
        return self.metrics.get(direction, {}).get(key)


def published_rows(dataset: str) -> list[Row]:
    return [
        Row(f"{b.method} [{b.tag}]", "published", b.metrics)
        for b in load_baselines()
        if b.dataset == dataset
    ]


def dvc_rows(dataset: str) -> list[Row]:
    """The workspace and every DVC experiment on `dataset` that has metrics."""
    result = subprocess.run(
        ["dvc", "exp", "show", "--json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise TieError(redact(f"`dvc exp show --json` failed: {result.stderr.strip()}"))
    rows = []
    for commit in json.loads(result.stdout):
        if commit["rev"] == "workspace":
            rows += _dvc_row("workspace", "workspace", commit, dataset)
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                name = rev.get("name") or experiment.get("name") or rev["rev"][:7]
                rows += _dvc_row(name, "experiment", rev, dataset)
    return rows


def _dvc_row(label: str, kind: str, entry: dict, dataset: str) -> list[Row]:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    metrics = ((data.get("metrics") or {}).get(METRICS_PATH) or {}).get("data")
    if not metrics or params.get("dataset") != dataset:
        return []
    return [Row(label, kind, metrics)]


def mlflow_rows(dataset: str, tracking_uri: str) -> list[Row]:
    """Every finished MLflow run in the experiment named after `dataset`, oldest first."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(dataset)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id], "attributes.status = 'FINISHED'", order_by=["start_time ASC"]
    )
    rows = []
    for run in runs:
        logged = run.data.metrics
        metrics = {
            d: {k: logged[f"{d}/{k}"] for k in METRIC_KEYS if f"{d}/{k}" in logged}
            for d in DIRECTIONS
        }
        experiment_name = run.data.tags.get("dvc.experiment", "")
        rows.append(Row(f"{run.info.run_name} ({experiment_name})", "mlflow", metrics))
    return rows


def best_values(rows: list[Row]) -> dict[tuple[str, str], float]:
    """The best value of each column: highest recall, lowest rank."""
    best = {}
    for direction, key in COLUMNS:
        values = [v for r in rows if (v := r.value(direction, key)) is not None]
        if values:
            best[direction, key] = min(values) if key.endswith("rank") else max(values)
    return best


def _cell(value: float | None, key: str) -> str:
    """Recall with one decimal, ranks as short as they are (7, 6.8, 29.9); absent: empty."""
    if value is None:
        return ""
    return f"{round(value, 1):g}" if key.endswith("rank") else f"{value:.1f}"


def to_markdown(rows: list[Row], dataset: str) -> str:
    """The seed README's layout: one table per direction, best value of each column bold."""
    best = best_values(rows)
    lines = [f"## Retrieval on {dataset}", "", "R@K in %; the best value of each column in bold."]
    for direction in DIRECTIONS:
        lines += [
            "",
            f"### {DIRECTION_TITLES[direction]}",
            "",
            "| | " + " | ".join(COLUMN_TITLES[k] for k in METRIC_KEYS) + " |",
            "|---|" + "---|" * len(METRIC_KEYS),
        ]
        for row in rows:
            cells = [row.label]
            for key in METRIC_KEYS:
                value = row.value(direction, key)
                is_best = value is not None and value == best[direction, key]
                cells.append(f"**{_cell(value, key)}**" if is_best else _cell(value, key))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run", "kind"] + [f"{d}/{k}" for d, k in COLUMNS])
    for row in rows:
        values = [row.value(d, k) for d, k in COLUMNS]
        writer.writerow([row.label, row.kind] + ["" if v is None else round(v, 4) for v in values])
    return out.getvalue()


def to_json(rows: list[Row], dataset: str) -> str:
    best = best_values(rows)
    records = [
        {
            "run": row.label,
            "kind": row.kind,
            "metrics": row.metrics,
            "best": [
                f"{d}/{k}"
                for d, k in COLUMNS
                if row.value(d, k) is not None and row.value(d, k) == best[d, k]
            ],
        }
        for row in rows
    ]
    return json.dumps({"dataset": dataset, "rows": records}, indent=2) + "\n"
