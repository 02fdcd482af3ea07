"""End to end: the real pipeline, real DVC and real MLflow, on a tiny demo dataset.

The repository is copied into a temporary folder (a git repo of its own) so the test
never touches the developer's workspace, cache or MLflow store; every test works on a
copy of its own of that demo, so that any test runs alone, in any order.
"""

import json

import pytest
from helpers import TINY_DEMO, copy_project, run

pytestmark = pytest.mark.e2e

METRIC_NAMES = {"R_at_1", "R_at_5", "R_at_10", "median_rank", "mean_rank"}
INTERVAL_NAMES = METRIC_NAMES | {
    f"{name}_{bound}" for name in METRIC_NAMES for bound in ("low", "high")
}


@pytest.fixture
def project(demo_project, tmp_path):
    """This test's own copy of the session's demo (after one `dvc repro`, one MLflow run):
    what it changes reaches no other test, and it finds what no other test left."""
    return copy_project(demo_project, tmp_path / "project")


def mlflow_runs(root):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    return client.search_runs([experiment.experiment_id])


def test_repro_writes_metrics_far_above_chance(demo_project):
    project = demo_project  # read only
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    assert set(metrics) == {"image_search", "image_annotation", "rsum", "rsum_low", "rsum_high"}
    chance_at_10 = 100 * 10 / TINY_DEMO["n_test"]
    for direction in (metrics["image_search"], metrics["image_annotation"]):
        assert set(direction) == INTERVAL_NAMES | {"n_queries", "n_candidates"}
        assert all(isinstance(direction[name], float) for name in INTERVAL_NAMES)
        assert all(
            direction[f"{n}_low"] <= direction[n] <= direction[f"{n}_high"] for n in METRIC_NAMES
        )
        assert direction["R_at_10"] > 2 * chance_at_10
    rsum = sum(
        metrics[d][f"R_at_{k}"] for d in ("image_search", "image_annotation") for k in (1, 5, 10)
    )
    assert metrics["rsum"] == pytest.approx(rsum)
    # The protocol: each caption queries the test images, each image the test captions.
    n_test, n_captions = TINY_DEMO["n_test"], 5 * TINY_DEMO["n_test"]
    search, annotation = metrics["image_search"], metrics["image_annotation"]
    assert (search["n_queries"], search["n_candidates"]) == (n_captions, n_test)
    assert (annotation["n_queries"], annotation["n_candidates"]) == (n_test, n_captions)
    curves = (project / "metrics/recall_at_k.csv").read_text().splitlines()
    assert curves[0] == "k,image_search,image_annotation"
    assert len(curves) == 1 + 50


def test_no_bootstrap_gives_the_point_values_and_rsum_only(project):
    """`eval.bootstrap.n: 0`: the metrics file of old (five metrics and the protocol counts
    per direction), plus `rsum`; the point values do not depend on the intervals."""
    with_intervals = json.loads((project / "metrics/retrieval.json").read_text())
    _, out = run(["dvc", "exp", "run", "-S", "eval.bootstrap.n=0"], project)
    assert "Stage 'cca' didn't change, skipping" in out
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    assert set(metrics) == {"image_search", "image_annotation", "rsum"}
    assert metrics["rsum"] == with_intervals["rsum"]
    for direction in ("image_search", "image_annotation"):
        expected = {
            k: v
            for k, v in with_intervals[direction].items()
            if k not in INTERVAL_NAMES - METRIC_NAMES
        }
        assert metrics[direction] == expected


def test_experiment_reruns_only_the_text_side_and_logs_both_runs(project):
    image_features = project / "features/demo/image/colorgrid.npy"
    before = image_features.stat().st_mtime_ns

    _, out = run(["dvc", "exp", "run", "-n", "w2v", "-S", "text=word2vec_local"], project)
    assert "Stage 'image_features' didn't change, skipping" in out
    assert "Running stage 'vocab'" in out
    assert "Running stage 'text_features'" in out
    assert "Running stage 'cca'" in out
    assert "Running stage 'evaluate'" in out
    assert "the table: `tie show`" in out and "Median rank" not in out  # printed once, by:
    _, table = run(["tie", "show"], project)
    assert table.count("Median rank") == 1
    assert image_features.stat().st_mtime_ns == before
    assert (project / "features/demo/text/word2vec_local-mean.npy").exists()

    _, out = run(["dvc", "exp", "show", "--json"], project)
    rows = json.loads(out)
    baseline = next(r for r in rows if r["rev"] != "workspace")
    names = [e["name"] for e in (baseline.get("experiments") or [])]
    assert "w2v" in names

    runs = mlflow_runs(project)
    assert {r.data.params["text"] for r in runs} >= {"glove", "word2vec_local"}
    for r in runs:
        expected = {f"{d}/{m}" for d in ("image_search", "image_annotation") for m in METRIC_NAMES}
        assert expected <= set(r.data.metrics)
    w2v = next(r for r in runs if r.data.tags["dvc.experiment"] == "w2v")
    assert w2v.info.run_name == "w2v"
    assert w2v.data.tags["git.revision"] == run(["git", "rev-parse", "HEAD"], project)[1].strip()

    # Changing back restores every stage from DVC's run cache, cca and evaluate included,
    # and adds no MLflow run: the glove result is logged already (the demo's one run).
    _, out = run(["dvc", "exp", "run", "-S", "text=glove"], project)
    for stage in ("vocab", "text_features", "cca", "evaluate"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in out
    assert "Running stage" not in out
    assert len(mlflow_runs(project)) == 2


def test_temp_experiment_logs_into_the_repo_store(project):
    _, out = run(
        ["dvc", "exp", "run", "--temp", "-n", "in-temp", "-S", "cca.n_components=20"], project
    )
    assert "Running stage 'evaluate'" in out
    runs = [r for r in mlflow_runs(project) if r.info.run_name == "in-temp"]
    assert len(runs) == 1
    assert runs[0].data.params["cca.n_components"] == "20"
    assert runs[0].info.artifact_uri.startswith((project / "mlartifacts").as_uri())
    assert not list((project / ".dvc/tmp").rglob("mlflow.db"))


def test_unknown_name_fails_at_once_with_the_valid_names(project):
    code, out = run(["dvc", "exp", "run", "-S", "text=nope"], project, check=False)
    assert code != 0
    assert "params.yaml: text = 'nope': must be one of: glove, word2vec_local" in out
    assert "Running stage 'cca'" not in out


def test_vgg19_without_weights_runs_through_every_stage(project):
    _, out = run(
        ["dvc", "exp", "run", "--temp", "-n", "vgg19-none", "-S", "image=vgg19"]
        + ["-S", "backbone.weights=none", "-S", "backbone.input_size=32"],
        project,
    )
    assert "vgg19: random weights (backbone.weights: none), for tests only" in out
    n_images = sum(TINY_DEMO[f"n_{split}"] for split in ("train", "val", "test"))
    assert f"vgg19: {n_images} images x 4096" in out
    assert "Running stage 'evaluate'" in out
    runs = [r for r in mlflow_runs(project) if r.info.run_name == "vgg19-none"]
    assert len(runs) == 1
    assert runs[0].data.params["image"] == "vgg19"
    assert runs[0].data.params["backbone.weights"] == "none"
    assert "image_search/R_at_1" in runs[0].data.metrics
    assert 0.5 < runs[0].data.metrics["text_coverage/test/tokens"] <= 1


def test_cca_grid_search_on_val(project):
    _, out = run(
        ["dvc", "exp", "run", "-n", "grid", "-S", "cca.n_components=[5,20]"]
        + ["-S", "cca.reg=[0.0001,0.01]", "-S", "cca.scale_power=2"],
        project,
    )
    assert "chosen on val from a grid of 4" in out
    model_dir = project / "models/demo/colorgrid-glove"
    grid = (project / "metrics/cca_grid.csv").read_text().splitlines()
    assert grid[0].startswith("n_components,reg,scale_power,image_search_R_at_1,")
    assert grid[0].endswith(",criterion")
    assert len(grid) == 1 + 4
    selection = json.loads((project / "metrics/cca_selection.json").read_text())
    assert selection["n_components"] in (5, 20) and selection["reg"] in (0.0001, 0.01)
    assert selection["val_criterion"] == max(float(row.split(",")[-1]) for row in grid[1:])
    saved = json.loads((model_dir / "cca.json").read_text())["params"]
    assert saved == {name: selection[name] for name in ("n_components", "reg", "scale_power")}

    # The choice in the metrics, the grid as a heatmap plot, both in MLflow.
    _, out = run(["dvc", "metrics", "show", "--json"], project)
    metrics = json.loads(out)[""]["data"]  # "": the workspace
    assert metrics["metrics/cca_selection.json"]["data"] == selection
    _, out = run(["dvc", "plots", "show", "--json"], project)
    heatmap = json.loads(out)["data"]["metrics/cca_grid.csv"][0]["content"]
    assert [layer["mark"]["type"] for layer in heatmap["spec"]["layer"]] == ["rect", "text"]
    assert heatmap["spec"]["encoding"]["x"]["field"] == "n_components"
    assert heatmap["spec"]["encoding"]["y"]["field"] == "reg"
    assert len(heatmap["data"]["values"]) == 4
    evaluation = next(r for r in mlflow_runs(project) if r.info.run_name == "grid")
    assert evaluation.data.params["cca.n_components"] == "[5, 20]"
    assert evaluation.data.params["cca_selected.n_components"] == str(selection["n_components"])
    assert evaluation.data.params["cca_selected.reg"] == str(selection["reg"])
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    artifacts = {a.path for a in client.list_artifacts(evaluation.info.run_id)}
    assert "cca_grid.csv" in artifacts


def test_fisher_pooling_experiment_runs_beside_mean_pooling(project):
    mean_metrics = json.loads((project / "metrics/retrieval.json").read_text())
    _, out = run(
        ["dvc", "exp", "run", "-n", "fv-hglmm", "-S", "caption_vectors.pooling=fisher"]
        + ["-S", "fisher.mixture=hglmm", "-S", "fisher.n_components=4"],
        project,
    )
    assert "Stage 'image_features' didn't change, skipping" in out
    assert "Running stage 'mixture'" in out and "hglmm: K=4" in out
    import numpy as np

    from tie.features.fisher_rows import FisherRows

    features = FisherRows(project / "features/demo/text/glove-fisher.npy")  # fisher.store: codes
    assert features.shape[1] == 2 * 4 * 50  # 2 K D, GloVe 50-d
    fisher_metrics = json.loads((project / "metrics/retrieval.json").read_text())
    assert fisher_metrics["image_search"]["R_at_10"] > 2 * 100 * 10 / TINY_DEMO["n_test"]

    fv = next(r for r in mlflow_runs(project) if r.data.tags["dvc.experiment"] == "fv-hglmm")
    assert fv.data.params["caption_vectors.pooling"] == "fisher"
    assert fv.data.metrics["fisher/hglmm/n_iter"] >= 1
    assert np.isfinite(fv.data.metrics["fisher/hglmm/log_likelihood"])
    assert 0 <= fv.data.metrics["fisher/hglmm/gaussian_share"] <= 1

    _, out = run(["tie", "search", "a red circle", "--top", "3"], project)  # the FV of the query
    assert len([line for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]) == 3
    _, report = run(["tie", "report", "--runs", "mlflow"], project)
    assert "fv-hglmm (fv-hglmm)" in report and "(workspace)" in report  # beside the mean run

    # Back to mean pooling: the same features (computed again or restored), the same metrics.
    _, out = run(["dvc", "exp", "run", "-S", "caption_vectors.pooling=mean"], project)
    assert (project / "features/demo/text/glove-mean.npy").exists()
    assert json.loads((project / "metrics/retrieval.json").read_text()) == mean_metrics
    # Fisher again with only a CCA param changed: the mixture and the FVs come from the cache.
    _, out = run(
        ["dvc", "exp", "run", "-S", "caption_vectors.pooling=fisher", "-S", "cca.scale_power=1"],
        project,
    )
    assert "Stage 'mixture' is cached - skipping run, checking out outputs" in out
    assert "Stage 'text_features' is cached - skipping run, checking out outputs" in out
    assert "Running stage 'cca'" in out


def test_the_mixture_fitted_on_a_pretrained_sample_reads_no_caption(project):
    """fit_on pretrained_sample: the mixture is the one fitted on the seeded sample of
    GloVe's 400k words alone, whatever the dataset's captions."""
    import numpy as np

    from tie.corpus.corpus import Corpus
    from tie.text.encoders import VOCABULARY_SAMPLES
    from tie.text.fisher_vectors import FisherVectors
    from tie.text.tokenize import Tokenizer

    settings = ["caption_vectors.pooling=fisher", "fisher.mixture=gmm", "fisher.n_components=4"]
    settings += ["fisher.fit_on=pretrained_sample", "fisher.sample_size=2000"]
    _, out = run(["dvc", "exp", "run", *(w for s in settings for w in ("-S", s))], project)
    assert "Running stage 'mixture'" in out and "gmm: K=4 on 2000 pretrained_sample" in out
    assert "Running stage 'evaluate'" in out
    fitted = FisherVectors.load(project / "models/demo/mixture/glove-fisher")

    sample = VOCABULARY_SAMPLES["glove"](2000, 0)
    corpus = Corpus.load(project / "data/splits/demo.json")
    dataset_words = {w for c in Tokenizer().tokenize_all(corpus.flat_captions) for w in c}
    assert len(set(sample.words) - dataset_words) > 1900  # GloVe's, not the captions' words
    reference = FisherVectors(mixture="gmm", n_components=4, max_iter=100, seed=0)
    reference.fit(sample.vectors)
    for name in ("weights_", "means_", "scales_"):
        expected = getattr(reference.mixtures_[0], name)
        # At tie.features.precision's precision: within a step of 2^-18 of each column's scale.
        np.testing.assert_allclose(
            getattr(fitted.mixtures_[0], name), expected, atol=2.0**-17 * np.abs(expected).max()
        )
