"""`tie report`'s table: the choices that tell runs apart beside the metrics, sorted, bold
only where a row is best among comparable rows (the same dataset and protocol)."""

import json

import pytest

from tie.comparison import Group, Row, group_rows, sort_rows, to_json, to_markdown
from tie.provenance import Provenance

PROTOCOL = ("demo", "test", 50, 250)


def run_row(label, r1, mean_rank, n_components, text="glove"):
    provenance = Provenance(
        dataset="demo",
        split="official",
        eval_split="test",
        n_test_images=50,
        n_test_captions=250,
        text=text,
        pooling={"caption_vectors.idf": False},
        image="colorgrid",
        cca={"n_components": n_components, "reg": 0.001, "scale_power": 1.0},
    )
    metrics = {
        "image_search": {"R_at_1": r1, "mean_rank": mean_rank},
        "image_annotation": {"R_at_1": 30.0, "mean_rank": 8.0},
    }
    return Row(label, "experiment", metrics, PROTOCOL, provenance)


def table_lines(markdown):
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_columns_are_the_choices_that_differ_and_bold_marks_a_real_best():
    rows = [
        run_row("a", 70.39999999999999, 9.6, 50),
        run_row("b", 22.8, 12.25, 20),
        run_row("c", 54.8, 9.6, 10),
    ]
    markdown = to_markdown(*group_rows(rows, []))
    header, _, *body = table_lines(markdown)
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:2] == ["run", "n_components"]  # the only choice that differs
    assert "text" not in cells and "image" not in cells
    assert "Every run here: dataset demo, split official, text glove, pooling idf=False," in (
        markdown
    )
    assert body[0].startswith("| a | 50 | **70.4** |")  # rounded for display
    assert "**9.6**" in body[0] and "**9.6**" in body[2]  # a tie for the best: both bold
    assert "12.2" in body[1] and "**" not in body[1]
    assert "30.0" in body[0] and "**30.0**" not in markdown  # all equal: nothing is best


def test_sort_by_a_metric_and_keep_the_best_runs_with_published_rows_on_top():
    published = Row(
        "Klein [klein2015/demo]", "published", {"image_search": {"R_at_1": 9.0}}, PROTOCOL
    )
    runs = [run_row("a", 20.0, 9.0, 50), run_row("b", 40.0, 12.0, 20), run_row("c", 30.0, 5.0, 10)]
    groups, _ = group_rows(runs, [published])

    (by_r1,) = sort_rows(groups, "image_search.R_at_1", None)
    assert [r.label for r in by_r1.rows] == ["Klein [klein2015/demo]", "b", "c", "a"]
    (by_rank,) = sort_rows(groups, "image_search.mean_rank", 2)
    assert [r.label for r in by_rank.rows] == ["Klein [klein2015/demo]", "c", "a"]
    (best,) = sort_rows(groups, None, 1)
    assert [r.label for r in best.rows] == ["Klein [klein2015/demo]", "b"]
    assert sort_rows(groups, None, None) == groups


def test_json_numbers_are_rounded():
    group = Group(PROTOCOL, [run_row("a", 70.39999999999999, 9.304000000000002, 50)])
    (row,) = json.loads(to_json([group], []))["groups"][0]["rows"]
    assert row["metrics"]["image_search"] == {"R_at_1": 70.4, "mean_rank": 9.304}


@pytest.mark.parametrize("bad", ["image_search.R_at_2", "R_at_1", "search.mean_rank"])
def test_report_refuses_an_unknown_sort_key(bad):
    from click.testing import CliRunner

    from tie.cli import main

    result = CliRunner().invoke(main, ["report", "--sort-by", bad])
    assert result.exit_code != 0 and "image_search.R_at_1" in result.output
