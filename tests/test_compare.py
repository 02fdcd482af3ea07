"""Comparing runs: published baselines as git tags, `tie report`, the gallery, `tie search`."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from helpers import REPO, copy_project, run
from PIL import Image

from tie.errors import TieError
from tie.evaluation.gallery import fixed_sample, top_k
from tie.results.baselines import create_tags, load_baselines
from tie.results.report_table import Row, group_rows, published_rows

BASELINES = REPO / "metrics/baselines/published.csv"
EXPERIMENTS = {"fewer-dims": "cca.n_components=20", "unscaled": "cca.scale_power=0"}


@pytest.fixture(scope="module")
def project(demo_project, tmp_path_factory):
    root = copy_project(demo_project, tmp_path_factory.mktemp("project"))
    for name, setting in EXPERIMENTS.items():
        run(["dvc", "exp", "run", "-n", name, "-S", setting], root)
    return root


def git(args, cwd):
    return run(["git", *args], cwd)[1].strip()


def test_every_published_row_is_a_record_and_absent_numbers_stay_absent():
    baselines = {b.tag: b for b in load_baselines(BASELINES)}
    # Seed README: 6 methods on Flickr8k and Flickr30k, 2 on COCO; Klein's Fisher vectors on 3;
    # CLIP's zero-shot rows on Flickr30k and COCO; OpenCLIP's benchmark of the 17 KerasHub
    # CLIP and SigLIP presets it has rows for, on both.
    assert len(baselines) == 6 + 6 + 2 + 3 + 2 + 17 * 2
    openclip = {tag: b for tag, b in baselines.items() if tag.startswith("openclip-")}
    assert len(openclip) == 17 * 2
    b32 = baselines["openclip-clip_vit_base_patch32/flickr30k"]
    assert b32.metrics["image_search"] == {"R_at_1": 58.78, "R_at_5": 83.56, "R_at_10": 90.02}
    assert b32.metrics["image_annotation"] == {"R_at_1": 78.9, "R_at_5": 94.9, "R_at_10": 98.2}
    so400m = baselines["openclip-siglip_so400m_patch14_384/coco"]
    assert so400m.metrics["image_annotation"] == {
        "R_at_1": 72.42,
        "R_at_5": 89.98,
        "R_at_10": 94.48,
    }
    for b in openclip.values():
        counts = {"flickr30k": (1000, 5000), "coco": (5000, 25000)}[b.dataset]
        assert (b.n_test_images, b.n_test_captions) == counts
        assert "openclip_retrieval_results.csv" in b.source and b.name[9:] in b.source
    clip = baselines["clip2021-zeroshot/coco"]
    assert clip.metrics["image_annotation"] == {"R_at_1": 58.4, "R_at_5": 81.5, "R_at_10": 88.1}
    assert clip.metrics["image_search"] == {"R_at_1": 37.8, "R_at_5": 62.4, "R_at_10": 72.2}
    assert "Table 13" in clip.source and "5K test" in clip.source
    mean_vec = baselines["klein2015/flickr30k"].metrics
    assert mean_vec["image_search"] == {
        "R_at_1": 20.5, "R_at_5": 46.3, "R_at_10": 59.3, "median_rank": 6.8, "mean_rank": 32.4
    }  # fmt: skip
    seed = baselines["seed-word2vec_inceptionresnetv2/flickr8k"].metrics
    assert seed["image_annotation"]["mean_rank"] == 29.856
    fisher = baselines["klein2015-fv/coco"]
    assert fisher.metrics["image_annotation"] == {"R_at_1": 39.4, "R_at_5": 67.9, "R_at_10": 80.9}
    assert fisher.metrics["image_search"] == {"R_at_1": 25.1, "R_at_5": 59.8, "R_at_10": 76.6}
    assert "1K test" in fisher.source
    for baseline in baselines.values():
        assert set(baseline.metrics) == {"image_search", "image_annotation"}
        assert baseline.source


@pytest.mark.e2e
def test_baseline_tags_compare_with_dvc_metrics_diff_in_a_fresh_clone(project, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    head, branch = git(["rev-parse", "HEAD"], clone), git(["branch", "--show-current"], clone)
    index_before = (clone / ".git/index").read_bytes()

    _, out = run(["tie", "baseline"], clone)
    assert "created  klein2015/flickr8k" in out
    assert git(["status", "--porcelain"], clone) == ""
    assert (clone / ".git/index").read_bytes() == index_before
    assert (git(["rev-parse", "HEAD"], clone), git(["branch", "--show-current"], clone)) == (
        head,
        branch,
    )
    tag = "klein2015/flickr8k"
    # The published numbers, and none of HEAD's own run records.
    changed = git(["diff", "--name-status", head, tag], clone).splitlines()
    assert sorted(changed) == [
        "D\tdvc.lock",
        "D\tmetrics/cca_grid.csv",
        "M\tmetrics/cca_selection.json",
        "M\tmetrics/retrieval.json",
        "M\tmetrics/scoring_selection.json",
    ]
    assert git(["rev-parse", f"{tag}^"], clone) == head
    assert git(["show", f"{tag}:metrics/cca_selection.json"], clone) == "{}"
    assert git(["show", f"{tag}:metrics/scoring_selection.json"], clone) == "{}"

    _, out = run(["dvc", "metrics", "diff", tag, "--all", "--json"], clone)
    diff = json.loads(out)
    workspace = json.loads((clone / "metrics/retrieval.json").read_text())
    for direction, published in (("image_search", 19.1), ("image_annotation", 22.6)):
        assert diff["metrics/retrieval.json"][f"{direction}.R_at_1"]["old"] == published
        assert (
            diff["metrics/retrieval.json"][f"{direction}.R_at_1"]["new"]
            == workspace[direction]["R_at_1"]
        )
    # The two sides' protocols, side by side: Flickr8k's 1000 test images vs the demo's 50.
    candidates = diff["metrics/retrieval.json"]["image_search.n_candidates"]
    assert (candidates["old"], candidates["new"]) == (1000, 50)
    # The workspace's CCA choice is its own: the baseline has none.
    selection = diff.get("metrics/cca_selection.json", {})
    assert selection and all(entry["old"] is None for entry in selection.values())
    _, out = run(["dvc", "metrics", "diff", tag], clone)
    assert "image_search.R_at_1" in out and "image_annotation.R_at_1" in out

    # Numbers the paper does not give are absent from the tag, not zero.
    fisher = json.loads(git(["show", "klein2015-fv/flickr8k:metrics/retrieval.json"], clone))
    assert "median_rank" not in fisher["image_search"]

    commit = git(["rev-parse", tag], clone)
    _, out = run(["tie", "baseline"], clone)
    assert "exists   klein2015/flickr8k" in out
    assert git(["rev-parse", tag], clone) == commit
    _, out = run(["tie", "baseline", "--force"], clone)
    assert "updated  klein2015/flickr8k" in out
    assert git(["status", "--porcelain"], clone) == ""


def test_baseline_needs_a_commit(tmp_path):
    run(["git", "init", "-q"], tmp_path)
    with pytest.raises(TieError, match="has no commit yet"):
        create_tags(tmp_path, load_baselines(BASELINES))


def test_baseline_says_how_many_tags_it_writes_and_removes_only_its_own(tmp_path):
    (tmp_path / "metrics/baselines").mkdir(parents=True)
    (tmp_path / "metrics/baselines/published.csv").write_bytes(BASELINES.read_bytes())
    run(["git", "init", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-q", "-m", "first"], tmp_path)
    run(["git", "tag", "mine"], tmp_path)
    n = len(load_baselines(BASELINES))

    _, out = run(["tie", "baseline"], tmp_path)
    first = out.splitlines()[0]
    assert first.startswith(f"writing {n} git tags <baseline>/<dataset> into this repository")
    assert "`git push --tags` would publish them; `tie baseline --remove` deletes them" in first
    assert len(git(["tag"], tmp_path).split()) == n + 1
    _, out = run(["tie", "baseline"], tmp_path)
    assert "writing" not in out  # nothing new

    _, out = run(["tie", "baseline", "--remove"], tmp_path)
    assert out.startswith(f"deleted {n} baseline tags: klein2015/flickr8k, ")
    assert git(["tag"], tmp_path) == "mine"


@pytest.mark.e2e
def test_metrics_diff_of_a_baseline_and_an_experiment(project):
    run(["tie", "baseline"], project)
    _, out = run(["dvc", "metrics", "diff", "klein2015/flickr8k", "fewer-dims", "--json"], project)
    diff = json.loads(out)["metrics/retrieval.json"]
    assert diff["image_search.R_at_10"]["old"] == 60.4
    assert diff["image_annotation.R_at_10"]["old"] == 61.2


@pytest.mark.e2e
def test_report_lists_the_workspace_and_every_experiment(project):
    _, out = run(["tie", "report", "--format", "json"], project)
    report = json.loads(out)
    [group] = report["groups"]  # every run here: the tiny demo's test split
    assert (group["dataset"], group["eval_split"]) == ("demo", "test")
    assert (group["n_test_images"], group["n_test_captions"]) == (50, 250)
    rows = group["rows"]
    assert not [r for r in rows if r["kind"] == "workspace"]
    assert [r["run"] for r in rows if r["kind"] == "commit"] == ["main"]  # the committed run
    assert sorted(r["run"] for r in rows if r["kind"] == "experiment") == sorted(EXPERIMENTS)
    assert not [r for r in rows if r["kind"] == "published"]
    workspace = json.loads((project / "metrics/retrieval.json").read_text())
    unscaled = next(r for r in rows if r["run"] == "unscaled")
    assert unscaled["metrics"] == json.loads(
        json.dumps(workspace), parse_float=lambda x: round(float(x), 4)
    )
    assert unscaled["provenance"]["text"] == "glove"
    fewer = next(r for r in rows if r["run"] == "fewer-dims")
    assert fewer["provenance"]["cca"]["n_components"] == 20
    r1 = [r["metrics"]["image_search"]["R_at_1"] for r in rows]
    for r in rows:  # the best marked, where the values differ
        marked = "image_search/R_at_1" in r["best"]
        assert marked == (len(set(r1)) > 1 and r["metrics"]["image_search"]["R_at_1"] == max(r1))

    markdown = (project / "metrics/report.md").read_text()
    assert "| fewer-dims |" in markdown and "| unscaled |" in markdown
    # The workspace holds the last experiment's run: said once, not a second row.
    assert "The workspace holds the run of experiment unscaled: its row." in markdown
    assert "| workspace |" not in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| run |"))
    assert "| scale_power |" in header and "| text |" not in header  # only what differs

    _, out = run(["tie", "report", "--sort-by", "image_search.mean_rank", "--best", "2"], project)
    body = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(body) == 2
    by_rank = sorted(rows, key=lambda r: r["metrics"]["image_search"]["mean_rank"])
    assert [line.split("|")[1].strip() for line in body] == [r["run"] for r in by_rank[:2]]
    assert "**" in markdown
    assert "No published row has this dataset and protocol" in markdown

    _, out = run(["tie", "report", "--format", "csv", "--runs", "mlflow"], project)
    lines = out.strip().splitlines()
    assert lines[0].startswith("run,kind,dataset,eval_split,n_test_images,n_test_captions,")
    assert len(lines) == 1 + 1 + len(EXPERIMENTS)  # header, dvc repro's run, experiments
    assert all(",demo,test,50,250," in line for line in lines[1:])  # counts: integers


@pytest.mark.e2e
def test_show_an_experiment_or_a_revision(project):
    _, out = run(["tie", "show", "fewer-dims"], project)
    first, second = out.splitlines()[:2]
    assert first.startswith("demo (official split), test split: 50 images")
    assert "CCA chosen: n_components=20," in first
    assert second.startswith("(from fewer-dims's dvc.lock and metrics files, commit ")
    assert "R@1" in out
    _, out = run(["tie", "show", "HEAD"], project)
    assert "(from HEAD's dvc.lock" in out
    code, out = run(["tie", "show", "no-such-run"], project, check=False)
    assert code == 1 and out.strip() == (
        "Error: 'no-such-run' is neither a DVC experiment (`dvc exp list`) nor a git revision"
    )


@pytest.mark.e2e
def test_labels_come_from_the_run_not_from_params_yaml(project):
    """After a failed `dvc exp run -S dataset=flickr30k -S split=karpathy`, params.yaml says
    flickr30k while the outputs are the demo's: they are shown and compared as the demo's."""
    params_file = project / "params.yaml"
    before = params_file.read_text()
    params = yaml.safe_load(before) | {"dataset": "flickr30k", "split": "karpathy"}
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        _, shown = run(["tie", "show"], project)
        _, markdown = run(["tie", "report"], project)
        _, out = run(["tie", "report", "--format", "json"], project)
    finally:
        params_file.write_text(before)
    assert shown.splitlines()[0].startswith("demo (official split), test split: 50 images")
    chosen = json.loads((project / "metrics/cca_selection.json").read_text())
    assert f"CCA chosen: n_components={chosen['n_components']}, reg=" in shown
    assert "flickr30k" not in shown
    assert [g["dataset"] for g in json.loads(out)["groups"]] == ["demo"]
    assert "Klein" not in markdown.split("### Published rows of another protocol")[0]
    assert "flickr30k" not in markdown


@pytest.mark.e2e
def test_show_without_outputs_says_how_to_restore_them(project):
    metrics_file = project / "metrics/retrieval.json"
    recorded = metrics_file.read_bytes()
    metrics_file.unlink()
    code, out = run(["tie", "show"], project, check=False)
    assert code != 0 and "is missing" in out and "`dvc checkout`" in out
    assert "Traceback" not in out
    _, out = run(["dvc", "repro"], project)
    assert "Stage 'evaluate' is cached - skipping run, checking out outputs" in out
    assert metrics_file.read_bytes() == recorded

    metrics_file.write_text(json.dumps(json.loads(recorded) | {"edited": 1}))
    code, out = run(["tie", "show"], project, check=False)
    metrics_file.write_bytes(recorded)
    assert code != 0 and "is not the file dvc.lock records" in out


def test_published_rows_are_compared_only_on_their_own_protocol(monkeypatch):
    monkeypatch.chdir(REPO)
    published = published_rows()
    flickr8k = [r for r in published if r.protocol[0] == "flickr8k"]
    assert len(flickr8k) == 7 and {r.protocol for r in flickr8k} == {
        ("flickr8k", "test", 1000, 5000)
    }
    demo = Row("workspace", "workspace", {}, ("demo", "test", 50, 250))
    groups, apart = group_rows([demo], published)
    assert [[r.label for r in g.rows] for g in groups] == [["workspace"]] and apart == []
    # A Flickr8k run on its val split (also 1000 images) is not compared with the test rows.
    on_val = Row("val", "workspace", {}, ("flickr8k", "val", 1000, 5000))
    on_test = Row("test", "workspace", {}, ("flickr8k", "test", 1000, 5000))
    groups, apart = group_rows([on_val, on_test], published)
    assert [r.label for r in groups[0].rows] == ["val"]
    assert [r.kind for r in groups[1].rows] == ["published"] * 7 + ["workspace"]
    # COCO: the 1K rows beside a run's coco_1k section; rows of unstated protocol and the
    # 5K rows (CLIP's zero-shot) apart.
    coco_1k = Row("ws [coco_1k]", "workspace", {}, ("coco", "test", 1000, 5000))
    groups, apart = group_rows([coco_1k], published)
    assert [r.label for r in groups[0].rows][0].endswith("[klein2015-fv/coco]")
    assert {r.protocol[2] for r in apart} == {None, 5000}
    coco_5k = Row("ws", "workspace", {}, ("coco", "test", 5000, 25000))
    groups, _ = group_rows([coco_5k], published)
    assert [r.label for r in groups[0].rows][0].endswith("[clip2021-zeroshot/coco]")


@pytest.mark.e2e
def test_evaluate_writes_the_gallery_and_dvc_plots_renders_it(project, tmp_path):
    with Image.open(project / "metrics/gallery.png") as gallery:
        assert gallery.width > 600 and gallery.height > 600
    _, out = run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], project)
    html = (tmp_path / "plots/index.html").read_text()
    assert "gallery.png" in html
    assert "Recall at K on the test split" in html  # the title of the curves in dvc.yaml


@pytest.mark.e2e
def test_search_finds_the_image_evaluate_ranks_first(project):
    """A test caption used as the query gives the ranking the evaluation scored."""
    script = """
import json, numpy as np
from tie.joint.cca import CCA
from tie.corpus.corpus import Corpus
from tie.evaluation.embeddings import load_split_embeddings
from tie.joint.retrieval import ranks
corpus = Corpus.load("data/splits/demo.json")
model = CCA.load("models/demo/colorgrid-glove")
test = load_split_embeddings(
    corpus, "test", "features/demo/image/colorgrid.npy", "features/demo/text/glove-mean.npy", model
)
view = test.view
search, _ = ranks(test.images, test.captions, view.caption_image_index)
first = int(np.flatnonzero(search == 1)[0])
image = corpus.images[view.image_rows[view.caption_image_index[first]]]
print(json.dumps([corpus.flat_captions[view.caption_rows[first]], image]))
"""
    caption, image = json.loads(
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    query = f"{caption} qqqzz"  # a word no caption has: dropped, and said
    _, out = run(["tie", "search", query, "--top", "3", "--output", "sheet.png"], project)
    assert "dropped, no word vector in this dataset's captions: qqqzz\n" in out
    used = out.split("query words used: ")[1].splitlines()[0].split()
    assert used and "qqqzz" not in used and set(used) <= set(re.findall("[a-z]+", caption.lower()))
    hits = [line for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert len(hits) == 3
    assert hits[0].endswith(f"/{image}")
    scores = [float(line.split()[1]) for line in hits]
    assert scores == sorted(scores, reverse=True)
    with Image.open(project / "sheet.png") as sheet:
        assert sheet.width > 3 * 100

    code, out = run(["tie", "search", "qqqzz", "--top", "3"], project, check=False)
    assert code != 0 and "no word of 'qqqzz'" in out

    # Hostile sizes: what is echoed and what is drawn are capped; the picture goes to the
    # git-ignored default path, not into the repository root.
    code, out = run(["tie", "search", "qqqzz " * 2000], project, check=False)
    assert code != 0 and "(12000 characters)" in out and len(out) < 1000
    _, out = run(["tie", "search", caption, "--top", "100000"], project)
    assert "contact sheet (the first 10 of 50): metrics/search.png" in out
    with Image.open(project / "metrics/search.png") as sheet:
        assert sheet.width < 11 * 2.4 * 72
    _, status = run(["git", "status", "--porcelain", "--untracked-files=all"], project)
    assert "search.png" not in status


@pytest.mark.e2e
def test_pictures_and_tables_made_on_demand_stay_out_of_git(project):
    run(["dvc", "plots", "show"], project)
    run(["tie", "report"], project)
    run(["tie", "search", "red"], project)
    made = ["dvc_plots/index.html", "metrics/report.md", "metrics/search.png"]
    assert all((project / name).is_file() for name in made)
    _, status = run(["git", "status", "--porcelain", "--untracked-files=all"], project)
    assert not [line for line in status.splitlines() if any(n in line for n in made)], status


def test_top_k_and_fixed_sample():
    images = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    order, scores = top_k(np.array([[2.0, 0.1]]), images, k=3)
    assert order.tolist() == [[0, 2, 1]]
    assert scores[0] == pytest.approx(sorted(scores[0], reverse=True))
    assert fixed_sample(100, 4).tolist() == fixed_sample(100, 4).tolist()
    assert len(set(fixed_sample(100, 4))) == 4
    assert fixed_sample(3, 4).tolist() == [0, 1, 2]


@pytest.mark.e2e
def test_search_says_which_words_are_stop_words_and_which_have_no_vector(demo_project, tmp_path):
    code, out = run(["tie", "search", "above the top"], demo_project, check=False)
    assert (code, out.strip()) == (
        1,
        "Error: no word of 'above the top' is left to search with: stop words"
        " (tokenizer.stop_words: english): above, the, top; try other words",
    )
    code, out = run(["tie", "search", "Above qqqzz"], demo_project, check=False)
    assert code == 1 and out.strip().endswith(
        "stop words (tokenizer.stop_words: english): above; no `glove` vector among the words"
        " of the demo captions: qqqzz; try other words"
    )
    sheet = tmp_path / "sheet.png"
    query = "the red circle above qqqzz"
    _, out = run(["tie", "search", query, "--top", "1", "--output", str(sheet)], demo_project)
    assert "query words used: red circle\n" in out
    assert "dropped as stop words (tokenizer.stop_words): the above\n" in out
    assert "dropped, no word vector in this dataset's captions: qqqzz\n" in out


@pytest.mark.e2e
def test_compare_two_experiments_with_intervals_and_verdicts(project):
    """`tie compare` on two experiments: the paired bootstrap of their per-query ranks (the
    evaluate stage's DVC output), the numbers `tie.evaluation.bootstrap` gives on those files; `tie
    report` shows the intervals and the marks; MLflow has the intervals and the ranks."""
    import mlflow

    from tie.evaluation.bootstrap import intervals, paired
    from tie.evaluation.query_ranks import QueryRanks, ranks_at
    from tie.joint.retrieval import metrics_from_ranks

    # The workspace's ranks file gives its metrics file, intervals byte for byte.
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    ranks = QueryRanks.read(project / "metrics/ranks.csv")
    assert (len(ranks.image_ids), len(ranks.caption_ids)) == (50, 250)
    points = metrics_from_ranks(*ranks.ranks)
    found = intervals(*ranks.ranks, ranks.caption_image_index, (1, 5, 10), 1000, 0)
    for direction in ("image_search", "image_annotation"):
        assert {k: metrics[direction][k] for k in points[direction]} == points[direction]
        assert {k: metrics[direction][k] for k in found[direction]} == found[direction]
    assert metrics["rsum"] == round(
        sum(points[d][f"R_at_{k}"] for d in points for k in (1, 5, 10)), 4
    )

    _, out = run(["tie", "compare", "fewer-dims", "unscaled"], project)
    assert "a: fewer-dims: demo (official split), test split: 50 images / 250 captions" in out
    assert "1000 resamples (seed 0) of the 50 test images" in out
    refs = git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"], project)
    revs = {ref.rsplit("/", 1)[1]: sha for sha, ref in (line.split() for line in refs.splitlines())}
    a, b = ranks_at(revs["fewer-dims"], project), ranks_at(revs["unscaled"], project)
    expected = paired(a.ranks, b.ranks, a.caption_image_index, (1, 5, 10), 1000, 0)
    line = next(x for x in out.splitlines() if x.startswith("search R@1 "))
    d = expected["image_search/R_at_1"]
    verdict = (
        "not significant" if not d.significant else ("a better" if d.difference > 0 else "b better")
    )
    assert line.split() == [
        "search", "R@1", f"{d.a:.1f}", f"{d.b:.1f}", f"{d.difference:+.2f}",
        f"[{d.low:+.2f},", f"{d.high:+.2f}]", f"{d.p_value:.3f}", *verdict.split(),
    ]  # fmt: skip
    assert next(x for x in out.splitlines() if x.startswith("rsum "))

    # An MLflow run by its id, or by its name as `tie report --runs mlflow` shows it.
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (logged,) = client.search_runs(
        [client.get_experiment_by_name("demo").experiment_id],
        "tags.`dvc.experiment` = 'fewer-dims'",
    )
    _, by_id = run(["tie", "compare", logged.info.run_id, "unscaled"], project)
    _, by_name = run(
        ["tie", "compare", f"{logged.info.run_name} (fewer-dims)", "unscaled"], project
    )

    def metric_lines(text):
        return [x for x in text.splitlines() if x.startswith(("search ", "annotation ", "rsum "))]

    assert metric_lines(by_id) == metric_lines(by_name) == metric_lines(out)  # same ranks

    code, out = run(["tie", "compare", "workspace", "klein2015/flickr8k"], project, check=False)
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert "not scored on the same protocol: workspace is demo, test split: 50 images" in out

    _, markdown = run(["tie", "report", "--reference", "fewer-dims"], project)
    assert "95% bootstrap interval" in markdown
    row = next(x for x in markdown.splitlines() if x.startswith("| unscaled |"))
    low = metrics["image_search"]["R_at_1_low"]
    assert f" [{low:.1f}, " in row  # the workspace is `unscaled`: its interval
    if not d.significant:
        assert f"{d.b:.1f} ≈ [" in row

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    for logged in client.search_runs([experiment.experiment_id]):
        for name in ("image_search/R_at_1_low", "image_annotation/mean_rank_high", "rsum_low"):
            assert name in logged.data.metrics
        assert "ranks.csv" in [f.path for f in client.list_artifacts(logged.info.run_id)]
