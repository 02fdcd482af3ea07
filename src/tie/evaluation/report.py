"""Human-readable views of retrieval results: the table and the recall-at-K curves."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from tie.joint.retrieval import rounded

DIRECTION_TITLES = {"image_search": "Image search", "image_annotation": "Image annotation"}


def with_interval(values: dict, key: str, text) -> str:
    """`values[key]` as `text` makes it, with its 95% interval when recorded: 22.1 [19.0, 25.3]."""
    cell = text(values[key])
    if f"{key}_low" in values and f"{key}_high" in values:
        cell += f" [{text(values[f'{key}_low'])}, {text(values[f'{key}_high'])}]"
    return cell


def format_table(metrics: dict) -> str:
    """Both directions as one table: R@K columns, then median and mean rank (with their 95%
    intervals when the metrics have them), then rsum when recorded."""
    recall_keys = [k for k in metrics["image_search"] if re.fullmatch(r"R_at_\d+", k)]
    header = ["", *[k.replace("R_at_", "R@") for k in recall_keys], "Median rank", "Mean rank"]
    rows = []
    for key, title in DIRECTION_TITLES.items():
        values = metrics[key]
        rows.append(
            [title]
            + [with_interval(values, k, "{:.1f}".format) for k in recall_keys]
            + [
                with_interval(values, "median_rank", "{:g}".format),
                with_interval(values, "mean_rank", "{:.1f}".format),
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    if "rsum" in metrics:
        rsum = with_interval(metrics, "rsum", "{:.1f}".format)
        lines.append(f"\nrsum (R@1 + R@5 + R@10, both directions): {rsum}")
    if "R_at_1_low" in metrics["image_search"]:
        lines.append(
            "In brackets: 95% bootstrap intervals (test images resampled with their captions)."
        )
    return "\n".join(lines)


def recall_curve(ranks: np.ndarray, max_k: int) -> np.ndarray:
    """Recall (%) at K = 1..max_k."""
    counts = np.bincount(np.minimum(ranks, max_k + 1), minlength=max_k + 2)[1 : max_k + 1]
    return 100.0 * np.cumsum(counts) / len(ranks)


def write_recall_curves(
    path: Path, search_ranks: np.ndarray, annotation_ranks: np.ndarray, max_k: int
) -> None:
    """A CSV with one row per K, the file DVC plots (`dvc plots show`)."""
    search = recall_curve(search_ranks, max_k)
    annotation = recall_curve(annotation_ranks, max_k)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["k", "image_search", "image_annotation"])
        for k in range(max_k):
            writer.writerow([k + 1, rounded(search[k]), rounded(annotation[k])])


def plot_recall_curves(csv_path: Path, png_path: Path, title: str) -> None:
    """The same curves as a PNG, for the MLflow UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    k = [int(r["k"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in DIRECTION_TITLES.items():
        ax.plot(k, [float(r[key]) for r in rows], label=label)
    ax.set(xlabel="K", ylabel="Recall at K (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
