"""tie.evaluation.report: the recall-at-K curves DVC plots, and their picture for MLflow."""

import csv

import numpy as np

from tie.evaluation.report import plot_recall_curves, recall_curve, write_recall_curves


def test_the_recall_curve_counts_ranks_up_to_each_k():
    ranks = np.array([1, 2, 2, 5, 9])
    np.testing.assert_allclose(recall_curve(ranks, 3), [20.0, 60.0, 60.0])
    np.testing.assert_allclose(recall_curve(ranks, 10)[-1], 100.0)


def test_the_curves_file_has_one_row_per_k_and_its_picture_is_drawn(tmp_path):
    curves = tmp_path / "metrics" / "recall_at_k.csv"
    write_recall_curves(curves, np.array([1, 3, 3, 7]), np.array([2, 2]), 4)
    rows = list(csv.reader(curves.open()))
    assert rows[0] == ["k", "image_search", "image_annotation"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"]
    assert [float(row[1]) for row in rows[1:]] == [25.0, 25.0, 75.0, 75.0]
    assert [float(row[2]) for row in rows[1:]] == [0.0, 100.0, 100.0, 100.0]
    png = tmp_path / "recall_at_k.png"
    plot_recall_curves(curves, png, "demo: recall at K")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
