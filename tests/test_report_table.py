"""`tie report`'s table: the choices that tell runs apart beside the metrics, sorted, bold
only where a row is best among comparable rows (the same dataset and protocol)."""

import dataclasses
import json

import numpy as np
import pytest

from tie.results.provenance import Provenance
from tie.results.report_table import (
    Group,
    Row,
    group_rows,
    mark_significance,
    sort_rows,
    to_csv,
    to_json,
    to_markdown,
)

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

    from tie.results.cli import main

    result = CliRunner().invoke(main, ["report", "--sort-by", bad])
    assert result.exit_code != 0 and "image_search.R_at_1" in result.output


def test_choices_are_written_one_way_and_ranks_with_one_decimal():
    """`pooling pooling=mean`, `scale_power=2` beside `2.0`, `mean rank **8**` beside `14.4`
    (seen in `tie report`): each value is written as params.yaml writes it, ranks alike."""
    a, b = run_row("a", 20.0, 8.0, 50), run_row("b", 30.0, 14.4, 20)
    for row in (a, b):
        row.provenance.pooling.update({"caption_vectors.pooling": "mean", "fisher.normalize": True})
        row.provenance.cca["scale_power"] = 2.0
    markdown = to_markdown(*group_rows([a, b], []))
    assert "pooling mean (idf=False)," in markdown and "pooling=" not in markdown.split("|")[0]
    assert "scale_power 2.0, scoring cosine." in markdown  # shared
    assert "scale_power=2.0; scoring cosine" in markdown  # described
    assert "fisher" not in markdown.split("What produced")[0]  # not a mean pooling setting
    body = table_lines(markdown)[2:]
    assert "| **8.0** |" in body[0] and "| 14.4 |" in body[1]


def test_the_scoring_is_a_choice_of_the_table_and_of_each_rows_description():
    a, b, c = run_row("a", 20.0, 8.0, 50), run_row("b", 30.0, 14.4, 50), run_row("c", 31, 9, 50)
    b.provenance = Provenance(
        **(b.provenance.as_dict() | {"scoring": "qb_norm", "scoring_params": {"beta": 20.0}})
    )
    c.provenance = Provenance(
        **(c.provenance.as_dict() | {"scoring": "csls", "scoring_params": None})
    )
    markdown = to_markdown(*group_rows([a, b, c], []))
    header, _, *body = table_lines(markdown)
    assert [cell.strip() for cell in header.strip("|").split("|")][:2] == ["run", "scoring"]
    assert body[0].startswith("| a | cosine |") and body[1].startswith(
        "| b | qb_norm (beta=20.0) |"
    )
    assert "- b: " in markdown and "; scoring qb_norm (beta=20.0)" in markdown
    assert "; scoring csls (params not recorded)" in markdown  # never a guess
    header, *lines = to_csv(group_rows([a, b, c], [])[0]).splitlines()
    assert header.split(",")[9] == "scoring" and lines[1].split(",")[9] == "qb_norm (beta=20.0)"


def test_a_custom_dataset_says_its_split_is_its_own():
    provenance = Provenance("custom", "official", "test", 9, 45, "glove", split_seed=3)
    described = provenance.describe()
    assert "official split" not in described
    assert "captions file's split column, else hashed by image name with custom.split_seed=3" in (
        described
    )


def ranked_row(label, search, annotation, n_images=200):
    """A run with per-query ranks (5 captions per image) and the metrics they give."""
    from tie.evaluation.bootstrap import add_uncertainty
    from tie.evaluation.query_ranks import QueryRanks
    from tie.joint.retrieval import metrics_from_ranks

    images = [f"i{i:03d}" for i in range(n_images)]
    captions = [f"{image}#{c}" for image in images for c in range(5)]
    index = np.repeat(np.arange(n_images), 5)
    ranks = QueryRanks.of(images, captions, index, search, annotation)
    metrics = add_uncertainty(metrics_from_ranks(search, annotation), search, annotation, index,
                              (1, 5, 10), 500, 0)  # fmt: skip
    row = run_row(label, 0, 0, 50)
    protocol = ("demo", "test", n_images, 5 * n_images)
    return Row(label, "experiment", metrics, protocol, row.provenance, ranks=ranks)


def test_values_not_significantly_different_from_the_best_are_marked():
    rng = np.random.default_rng(0)
    base = rng.integers(1, 30, size=1000)
    annotation = rng.integers(1, 30, size=200)
    best = ranked_row("best", base, annotation)
    # One caption in 100 better: the same run, nearly; every caption's rank halved: better.
    close = base.copy()
    close[::100] = np.maximum(close[::100] - 5, 1)
    near = ranked_row("near", close, annotation)
    far = ranked_row("far", base * 3, annotation)
    far_r5 = far.value("image_search", "R_at_5")
    published = Row("paper", "published", {"image_search": {"R_at_5": far_r5}}, best.protocol)
    (group,) = mark_significance(group_rows([near, best, far], [published])[0], None, 500, 0)
    search_r5 = {label for label, d, k in group.marked if (d, k) == ("image_search", "R_at_5")}
    # The best of search R@5 is `near`; `best` is within chance of it, `far` and the paper not.
    assert near.value("image_search", "R_at_5") >= best.value("image_search", "R_at_5")
    assert search_r5 == {"best"}
    markdown = to_markdown([group], [])
    cell = next(line for line in table_lines(markdown) if line.startswith("| best |"))
    low, high = (
        best.metrics["image_search"]["R_at_5_low"],
        best.metrics["image_search"]["R_at_5_high"],
    )
    assert f"{best.value('image_search', 'R_at_5'):.1f} ≈ [{low:.1f}, {high:.1f}]" in cell
    row = next(
        r for r in json.loads(to_json([group], []))["groups"][0]["rows"] if r["run"] == "best"
    )
    assert "image_search/R_at_5" in row["not_significant"]

    # Against a reference: the published value inside its interval is marked, not outside.
    (group,) = mark_significance(group_rows([best, far], [published])[0], "far", 500, 0)
    assert ("paper", "image_search", "R_at_5") in group.marked
    assert ("best", "image_search", "R_at_5") not in group.marked


def test_compare_a_run_with_a_published_row_by_its_interval_and_refuse_another_protocol():
    from tie.errors import TieError
    from tie.results.significance import compare

    rng = np.random.default_rng(1)
    run = ranked_row("mine", rng.integers(1, 30, size=1000), rng.integers(1, 30, size=200))
    r1 = run.value("image_search", "R_at_1")
    published = Row(
        "paper",
        "published",
        {"image_search": {"R_at_1": r1 + 0.5, "R_at_5": 99.0}},
        run.protocol,
        source="a paper",
    )
    out = compare(run, published, (1, 5, 10), 500, 0)
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert lines["search R@1"].endswith("inside: no evidence of a difference")
    assert lines["search R@5"].endswith("outside: paper better")
    assert "annotation R@1" not in lines  # the paper gives no such number

    other = Row("other", "published", published.metrics, ("demo", "test", 100, 500))
    with pytest.raises(TieError) as error:
        compare(run, other, (1, 5, 10), 500, 0)
    message = str(error.value)
    assert "\n" not in message and "not scored on the same protocol" in message
    assert "200 images / 1000 captions" in message and "100 images / 500 captions" in message


def fisher_row(label, r1, mixture, rsum=None):
    fisher = {f"fisher.{k}": v for k, v in FISHER_SETTINGS.items()} | {"fisher.mixture": mixture}
    row = run_row(label, r1, 9.0, 50)
    pooling = {"caption_vectors.pooling": "fisher"} | fisher
    row.provenance = dataclasses.replace(row.provenance, pooling=pooling)
    if rsum is not None:
        row.metrics["rsum"] = rsum
    return row


FISHER_SETTINGS = {
    "store": "codes",
    "fit_on": "train_words",
    "max_iter": 100,
    "n_components": 8,
    "normalize": True,
    "reduce": "none",
    "reduced_dim": 300,
    "sample_size": 100000,
    "seed": 0,
}


def test_the_pooling_column_names_only_the_fisher_settings_that_differ():
    mean = run_row("mean", 20.0, 9.0, 50)
    pooling = {"caption_vectors.pooling": "mean", "caption_vectors.idf": False}
    mean.provenance = dataclasses.replace(mean.provenance, pooling=pooling)
    rows = [mean, fisher_row("gmm", 26.2, "gmm"), fisher_row("lmm", 26.7, "lmm")]
    markdown = to_markdown(*group_rows(rows, []))
    header, _, *body = table_lines(markdown)
    assert [c.strip() for c in header.strip("|").split("|")][:2] == ["run", "pooling"]
    assert body[0].startswith("| mean | mean | ")
    assert body[1].startswith("| gmm | fisher (mixture=gmm) | ")
    assert body[2].startswith("| lmm | fisher (mixture=lmm) | ")
    assert "n_components=8" in markdown.split("What produced each row")[1]  # said there


def test_sort_by_rsum():
    rows = [fisher_row("a", 20.0, "gmm", 300.0), fisher_row("b", 10.0, "lmm", 350.0)]
    groups, _ = group_rows(rows, [])
    (by_rsum,) = sort_rows(groups, "rsum", None)
    assert [r.label for r in by_rsum.rows] == ["b", "a"]


def test_the_reference_row_is_named_and_labelled():
    rows = [fisher_row("a", 20.0, "gmm"), fisher_row("b", 10.0, "lmm")]
    groups, apart = group_rows(rows, [])
    markdown = to_markdown(mark_significance(groups, "b"), apart, "b")
    assert "≈ here: not significantly different from the reference row, b." in markdown
    assert [line.split("|")[1].strip() for line in table_lines(markdown)[2:]] == [
        "a",
        "b (reference)",
    ]


def test_the_workspace_is_left_out_where_it_is_an_applied_experiment():
    from tie.results.report_table import without_applied_workspace

    applied = fisher_row("fv-gmm", 20.0, "gmm")
    workspace = Row("workspace", "workspace", applied.metrics, PROTOCOL, applied.provenance)
    other = fisher_row("fv-lmm", 10.0, "lmm")
    rows, name = without_applied_workspace([workspace, applied, other])
    assert ([r.label for r in rows], name) == (["fv-gmm", "fv-lmm"], "fv-gmm")
    markdown = to_markdown(*group_rows(rows, []), applied=name)
    assert "The workspace holds the run of experiment fv-gmm: its row." in markdown
    metrics = other.metrics | {"rsum": 1.0}
    changed = Row("workspace", "workspace", metrics, PROTOCOL, other.provenance)
    rows, name = without_applied_workspace([changed, other])
    assert ([r.label for r in rows], name) == (["workspace", "fv-lmm"], None)
