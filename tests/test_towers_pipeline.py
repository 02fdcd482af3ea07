"""End to end: `dvc exp run -S image=clip -S text=clip -S clip.preset=<dir>` on the demo,
zero-shot (`cca.method=none`) and with CCA, with a tiny random CLIP saved as a preset.

The same real pipeline as test_pipeline.py (real DVC, MLflow, KerasHub), in a copy of the
repository; these runs prove the plumbing, not accuracy (the weights are random).
"""

import json

import numpy as np
import pytest
from helpers import check_library_example, copy_project, run
from require import require_module
from tower_presets import direct_image_rows, direct_text_rows

from tie.corpus.corpus import Corpus
from tie.features.store import load_image_features
from tie.raw.layout import image_dir

require_module("keras_hub")
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(demo_project, tmp_path_factory):
    return copy_project(demo_project, tmp_path_factory.mktemp("project"))


def mlflow_run(root, name):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == name]
    assert len(runs) == 1, [r.info.run_name for r in client.search_runs([experiment.experiment_id])]
    return runs[0]


def test_clip_zero_shot_then_cca_on_the_same_features(project, tiny_clip_preset):
    clip = ["-S", "image=clip", "-S", "text=clip", "-S", f"clip.preset={tiny_clip_preset}"]
    _, out = run(
        ["dvc", "exp", "run", "-n", "clip-zeroshot", *clip, "-S", "cca.method=none"], project
    )
    assert "clip is a sentence encoder: no word vectors" in out
    assert "cca.method none: the model's own space (12-d), no CCA fitted" in out
    zero_shot = json.loads((project / "metrics/retrieval.json").read_text())
    assert json.loads((project / "metrics/cca_selection.json").read_text())["grid_points"] == 0

    # The rows the pipeline wrote are the towers called directly on the demo's files.
    corpus = Corpus.load(project / "data/splits/demo.json")
    features, row = load_image_features(project / "features/demo/image/clip.npy", corpus.images)
    images = np.asarray(features[row])  # rows in corpus order
    captions = np.load(
        project / "features/demo/text/clip-mean.npy"
    )  # tie.config.paths.TEXT_FEATURES
    some = [0, 7, len(corpus.images) - 1]
    folder = image_dir(project / "data/raw/demo")
    files = [folder / corpus.images[i] for i in some]
    np.testing.assert_allclose(
        images[some], np.stack(direct_image_rows(tiny_clip_preset, files)), rtol=1e-4, atol=1e-5
    )
    texts = [corpus.flat_captions[i] for i in some]
    np.testing.assert_allclose(
        captions[some], direct_text_rows("clip", tiny_clip_preset, texts), rtol=1e-4, atol=1e-5
    )

    # `tie search` embeds the query with the text tower and ranks in the model's own space.
    test = corpus.split_view("test")
    query_row = test.caption_rows[0]
    test_images = images[test.image_rows]
    similarity = test_images @ captions[query_row] / np.linalg.norm(test_images, axis=1)
    best = corpus.images[test.image_rows[int(np.argmax(similarity))]]
    _, out = run(["tie", "search", corpus.flat_captions[query_row], "--top", "1"], project)
    assert "1. " in out and best in out

    # The library example on this run: the towers' own space and the text tower's query.
    check_library_example(project, corpus.flat_captions[query_row])

    # What `tie show` says produced the numbers: the preset, and no CCA.
    _, out = run(["tie", "show"], project)
    assert "CCA chosen: method=none" in out and f"clip.preset={tiny_clip_preset}" in out

    logged = mlflow_run(project, "clip-zeroshot")
    assert logged.data.params["cca.method"] == "none"
    assert logged.data.params["clip.preset"] == str(tiny_clip_preset)
    assert logged.data.metrics["image_search/R_at_1"] == zero_shot["image_search"]["R_at_1"]
    assert not any(name.startswith("text_coverage/") for name in logged.data.metrics)

    # CCA on top: the features come from DVC's cache, only cca and evaluate run.
    _, out = run(
        ["dvc", "exp", "run", "-n", "clip-cca", *clip]
        + ["-S", "cca.method=cca", "-S", "cca.n_components=8"],
        project,
    )
    for stage in ("image_features", "vocab", "text_features"):
        assert f"Running stage '{stage}'" not in out
    assert "Running stage 'cca'" in out and "Running stage 'evaluate'" in out
    with_cca = json.loads((project / "metrics/retrieval.json").read_text())
    assert with_cca != zero_shot
    assert mlflow_run(project, "clip-cca").data.params["cca.method"] == "cca"
    _, out = run(["tie", "show"], project)
    assert "CCA chosen: n_components=8" in out
