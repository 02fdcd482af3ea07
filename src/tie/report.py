"""Human-readable views of retrieval results: the table and the recall-at-K curves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tie.retrieval import rounded

DIRECTIONS = {"image_search": "Image search", "image_annotation": "Image annotation"}


def format_table(metrics: dict) -> str:
    """Both directions as one table: R@K columns, then median and mean rank."""
    recall_keys = [k for k in metrics["image_search"] if k.startswith("R_at_")]
    header = ["", *[k.replace("R_at_", "R@") for k in recall_keys], "Median rank", "Mean rank"]
    rows = []
    for key, title in DIRECTIONS.items():
        values = metrics[key]
        rows.append(
            [title]
            + [f"{values[k]:.1f}" for k in recall_keys]
            + [f"{values['median_rank']:g}", f"{values['mean_rank']:.1f}"]
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
    for key, label in DIRECTIONS.items():
        ax.plot(k, [float(r[key]) for r in rows], label=label)
    ax.set(xlabel="K", ylabel="Recall at K (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
