"""`tie compare A B`: is the difference between two results larger than chance?

A and B are anything `tie report` lists: `workspace`, the committed baseline (a git
revision such as `HEAD` or `main`), a DVC experiment's name, an MLflow run id or name
(as `tie report --runs mlflow` shows it), or a published row (`klein2015/flickr8k`).
Two results of this repo are compared pair by pair on their per-query ranks
(`metrics/ranks.csv`): the paired bootstrap draws the same test images for both
(`tie.evaluation.bootstrap.paired`) and gives, for every metric, a - b, its 95% interval and a
two-sided p-value. A published row has numbers only: it is compared with the run's 95%
interval (inside: no evidence of a difference).

Results are compared only on the same protocol (dataset, split scored, test images and
captions, and then the very same query ids); anything else is a one-line refusal that
says what differs.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from tie.errors import TieError
from tie.evaluation.bootstrap import CONFIDENCE, intervals, paired
from tie.evaluation.query_ranks import (
    QueryRanks,
    check_same_queries,
    mlflow_ranks,
    ranks_at,
    workspace_ranks,
)
from tie.joint.retrieval import DIRECTIONS
from tie.results.provenance import from_mlflow, protocol_text, provenance_at, workspace_provenance
from tie.results.report_table import Row, published_rows

MLFLOW_RUN_ID = re.compile(r"[0-9a-f]{32}")
METRIC_TITLES = {"R_at_1": "R@1", "R_at_5": "R@5", "R_at_10": "R@10"}
SHORT_DIRECTIONS = {"image_search": "search", "image_annotation": "annotation"}
ACCEPTED = (
    "`workspace`, a DVC experiment's name, a git revision (e.g. HEAD), an MLflow run id or"
    " name, or a published row (e.g. klein2015/flickr8k); `tie report` lists them"
)


def find_result(name: str, tracking_uri: str, root: Path = Path(".")) -> Row:
    """The result `name` stands for, with its per-query ranks where recorded."""
    if name == "workspace":
        metrics, provenance = workspace_provenance(root)
        row = Row(name, "workspace", metrics, provenance.protocol, provenance)
        return _with_ranks(row, workspace_ranks(root))
    published = [row for row in published_rows() if row.label.endswith(f"[{name}]")]
    if published:
        return dataclasses.replace(published[0], label=name)
    if MLFLOW_RUN_ID.fullmatch(name):
        return _mlflow_result(name, tracking_uri)
    rev = experiment_rev(name, root) or git_rev(name, root)
    if rev is None:
        run_id = _mlflow_run_named(name, tracking_uri)
        if run_id is None:
            raise TieError(f"{name!r} is none of {ACCEPTED}")
        return _mlflow_result(run_id, tracking_uri)
    recorded = provenance_at(rev, f"{name} ({rev[:7]})", root)
    if recorded is None:
        raise TieError(f"{name} ({rev[:7]}) has no metrics/retrieval.json: nothing to compare")
    metrics, provenance = recorded
    row = Row(name, "experiment", metrics, provenance.protocol, provenance)
    return _with_ranks(row, ranks_at(rev, root))


def _with_ranks(row: Row, ranks: QueryRanks | None) -> Row:
    row.ranks = ranks
    return row


def _mlflow_result(run_id: str, tracking_uri: str) -> Row:
    import mlflow

    try:
        run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise TieError(f"MLflow has no run {run_id}; {ACCEPTED}") from None
    logged = run.data.metrics
    metrics = {
        d: {k.split("/", 1)[1]: v for k, v in logged.items() if k.startswith(f"{d}/")}
        for d in DIRECTIONS
    }
    provenance = from_mlflow(run.data.params, logged)
    row = Row(run.info.run_name or run_id, "mlflow", metrics, provenance.protocol, provenance)
    return _with_ranks(row, mlflow_ranks(run_id, tracking_uri))


def _mlflow_run_named(name: str, tracking_uri: str) -> str | None:
    """The id of the latest finished MLflow run named `name` (`tie report --runs mlflow`
    shows runs by name, with their DVC experiment in brackets); None if none."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    run_name = name.rsplit(" (", 1)[0] if name.endswith(")") else name
    runs = client.search_runs(
        experiments, "attributes.status = 'FINISHED'", order_by=["start_time DESC"]
    )
    named = [run.info.run_id for run in runs if run.info.run_name == run_name]
    return named[0] if named else None


def experiment_rev(name: str, root: Path) -> str | None:
    """The commit of the DVC experiment `name` (its ref is refs/exps/.../<name>)."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    found = [line.split()[0] for line in refs if line.endswith(f"/{name}")]
    return found[-1] if found else None


def git_rev(name: str, root: Path) -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def check_same_protocol(a: Row, b: Row) -> None:
    """One line naming both protocols unless dataset, split scored and counts agree."""
    if a.protocol != b.protocol:
        raise TieError(
            f"{a.label} and {b.label} were not scored on the same protocol: {a.label} is"
            f" {_protocol(a)}, {b.label} is {_protocol(b)}; compare results of one dataset"
            " and protocol"
        )
    if a.ranks is not None and b.ranks is not None:
        check_same_queries(a.ranks, b.ranks, a.label, b.label)


def _protocol(row: Row) -> str:
    dataset, split, images, captions = row.protocol
    return f"{dataset}, {protocol_text(split, images, captions)}"


def _needs_ranks(row: Row) -> QueryRanks:
    if row.ranks is None:
        raise TieError(
            f"{row.label} has no per-query ranks (metrics/ranks.csv, recorded by the evaluate"
            " stage since intervals exist): re-run it (`dvc repro`, or `dvc exp run` with its"
            " params) to compare it pair by pair"
        )
    return row.ranks


def compare(a: Row, b: Row, ks, n_resamples: int, seed: int) -> str:
    """The comparison as text: one line per metric, its verdict."""
    check_same_protocol(a, b)
    if a.kind == "published" and b.kind == "published":
        raise TieError("both are published rows: there are no ranks to resample")
    if b.kind == "published" or a.kind == "published":
        run, published = (a, b) if b.kind == "published" else (b, a)
        return _against_published(run, published, ks, n_resamples, seed)
    ranks_a, ranks_b = _needs_ranks(a), _needs_ranks(b)
    found = paired(ranks_a.ranks, ranks_b.ranks, ranks_a.caption_image_index, ks, n_resamples, seed)
    lines = _header(a, b, n_resamples, seed)
    lines += [
        "paired bootstrap: the same test images drawn for both; a - b with its"
        f" {CONFIDENCE:.0%} interval, p two-sided",
        "",
    ]
    rows = [("metric", "a", "b", "a - b", f"{CONFIDENCE:.0%} interval", "p", "verdict")]
    for name, d in found.items():
        verdict = "not significant"
        if d.significant:
            better = (d.difference < 0) if name.endswith("rank") else (d.difference > 0)
            verdict = f"{'a' if better else 'b'} better"
        rows.append(
            (
                _title(name),
                _number(d.a, name),
                _number(d.b, name),
                f"{d.difference:+.2f}",
                f"[{d.low:+.2f}, {d.high:+.2f}]",
                f"{d.p_value:.3f}",
                verdict,
            )
        )
    return "\n".join(lines + _aligned(rows)) + "\n"


def _against_published(run: Row, published: Row, ks, n_resamples: int, seed: int) -> str:
    ranks = _needs_ranks(run)
    found = intervals(*ranks.ranks, ranks.caption_image_index, ks, n_resamples, seed)
    lines = _header(run, published, n_resamples, seed)
    lines += [
        f"{published.label} is published numbers (no ranks): is each inside {run.label}'s"
        f" {CONFIDENCE:.0%} interval?",
        "",
    ]
    rows = [("metric", run.label, f"{CONFIDENCE:.0%} interval", published.label, "verdict")]
    for direction in DIRECTIONS:
        for key, value in published.metrics.get(direction, {}).items():
            name = f"{direction}/{key}"
            if key not in run.metrics.get(direction, {}):
                continue
            low, high = found[direction][f"{key}_low"], found[direction][f"{key}_high"]
            point = run.metrics[direction][key]
            if low <= value <= high:
                verdict = "inside: no evidence of a difference"
            else:
                better = (point < value) if key.endswith("rank") else (point > value)
                verdict = f"outside: {run.label if better else published.label} better"
            rows.append(
                (
                    _title(name),
                    _number(point, name),
                    f"[{_number(low, name)}, {_number(high, name)}]",
                    _number(value, name),
                    verdict,
                )
            )
    return "\n".join(lines + _aligned(rows)) + "\n"


def _header(a: Row, b: Row, n_resamples: int, seed: int) -> list[str]:
    what = [f"{tag}: {row.label}: {_described(row)}" for tag, row in (("a", a), ("b", b))]
    _, _, images, _ = a.protocol
    return what + [
        f"{n_resamples} resamples (seed {seed}) of the {images:g} test images, each with all"
        " its captions;"
    ]


def _described(row: Row) -> str:
    return row.source if row.kind == "published" else row.provenance.describe()


def _title(name: str) -> str:
    if "/" not in name:
        return name
    direction, key = name.split("/")
    return f"{SHORT_DIRECTIONS[direction]} {METRIC_TITLES.get(key, key.replace('_', ' '))}"


def _number(value: float, name: str) -> str:
    return f"{value:g}" if name.endswith("median_rank") else f"{value:.1f}"


def _aligned(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            str(c).ljust(w) if i in (0, len(row) - 1) else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
