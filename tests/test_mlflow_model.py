"""The joint model each evaluate run logs (tie.evaluation.mlflow_model), end to end.

A demo run's model is registered (`tie register`), the project's checkout is deleted, and
the model, loaded by `models:/NAME@champion` in a fresh process whose `sys.path` holds no
`tie` package, embeds captions and images exactly where the pipeline put them; `mlflow
models serve` answers the same over HTTP, R@K of the served vectors on the test split is
the run's metrics/retrieval.json, and bad input gets a 400 with a message. The same with
Fisher-vector pooling and with a (tiny, random) CLIP's own space.
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO, copy_project, free_port, run, stage_params, wait_until

from tie.corpus.corpus import Corpus
from tie.evaluation.embeddings import load_split_embeddings
from tie.features.rows import unit_rows
from tie.joint.retrieval import ranks, score
from tie.joint.space import load_joint_model
from tie.raw.layout import image_dir

N = 20  # captions and images compared one by one

# Run in a fresh process: no `tie` on sys.path (the editable install's entry removed), so
# that the package can only come from the model's own code.
LOAD = """
import json, sys, time
from pathlib import Path
sys.path = [p for p in sys.path if not (Path(p or ".") / "tie").is_dir()]
import mlflow, numpy as np, pandas as pd
inputs = json.loads(Path(sys.argv[2]).read_text())
start = time.perf_counter()
model = mlflow.pyfunc.load_model(sys.argv[1])
load_s = time.perf_counter() - start
import tie
captions = model.predict(pd.DataFrame({"caption": inputs["captions"]}))
by_path = model.predict(pd.DataFrame({"image": inputs["images"]}))
by_bytes = model.predict(pd.DataFrame({"image": [Path(p).read_bytes() for p in inputs["images"]]}))
mixed = model.predict(pd.DataFrame({"caption": [inputs["captions"][0], None],
                                    "image": [None, Path(inputs["images"][0]).read_bytes()]}))
found = model.predict(pd.DataFrame({"caption": inputs["captions"][:1]}), params={"top_k": 3})
np.savez(sys.argv[3], captions=captions, by_path=by_path, by_bytes=by_bytes, mixed=mixed)
print(json.dumps({"tie": tie.__file__, "load_s": load_s, "matches": found["matches"][0]}))
"""


def newest_run_id(project):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0].info.run_id


def pipeline_vectors(project):
    """The test split in the joint space, as the evaluate stage computed it: unit rows."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    dataset, image, text = params["dataset"], params["image"], params["text"]
    pooling = params["caption_vectors"]["pooling"]
    corpus = Corpus.load(project / f"data/splits/{dataset}.json")
    split = load_split_embeddings(
        corpus,
        "test",
        project / f"features/{dataset}/image/{image}.npy",
        project / f"features/{dataset}/text/{text}-{pooling}.npy",
        load_joint_model(project / f"models/{dataset}/{image}-{text}"),
    )
    ks = tuple(params["eval"]["ks"])
    return corpus, split, unit_rows(split.images), unit_rows(split.captions), ks


def same_ranks(images, captions, served_images, served_captions, view):
    """How many queries rank their true item differently with the served vectors: none, but
    where the pipeline's score of the true item is within 1e-6 of another candidate's (a
    tower's output depends on its batch in the last float32 bits: a near tie may flip)."""
    index = view.caption_image_index
    pipeline = ranks(images, captions, index)
    served = ranks(served_images, served_captions, index)
    similarity = captions @ images.T  # (captions, images)
    for q in np.flatnonzero(pipeline[0] != served[0]):  # a caption searching images
        gap = np.abs(similarity[q] - similarity[q, index[q]])
        gap[index[q]] = np.inf
        assert gap.min() <= 1e-6, (q, pipeline[0][q], served[0][q])
    for i in np.flatnonzero(pipeline[1] != served[1]):  # an image searching captions
        own = index == i
        best = similarity[own, i].max()
        assert np.abs(similarity[~own, i] - best).min() <= 1e-6, (i, pipeline[1][i])
    return int((pipeline[0] != served[0]).sum() + (pipeline[1] != served[1]).sum())


def post(url, body):
    """(status, parsed JSON answer) of a POST of `body` as JSON."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ping(url, server):
    assert server.poll() is None, server.stdout.read().decode(errors="replace")
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def images_b64(paths):
    return [base64.b64encode(Path(p).read_bytes()).decode() for p in paths]


def check_the_logged_model(project, tmp_path, name, tower=False):
    """Register the newest run's model, delete the checkout, load and serve the model."""
    _, out = run(["tie", "register", newest_run_id(project), "--name", name], project)
    assert f"alias @champion: mlflow.pyfunc.load_model('models:/{name}@champion')" in out, out
    metrics = json.loads((project / "metrics/retrieval.json").read_text())
    corpus, split, images, captions, ks = pipeline_vectors(project)
    view = split.view
    inputs = tmp_path / "inputs"  # outside the project: the images the model is given
    inputs.mkdir()
    test_images = []
    for row in view.image_rows:
        source = image_dir(project / "data/raw/demo") / corpus.images[row]
        test_images.append(shutil.copy2(source, inputs / corpus.images[row]))
    test_captions = [corpus.flat_captions[r] for r in view.caption_rows]
    (tmp_path / "inputs.json").write_text(
        json.dumps({"captions": test_captions[:N], "images": [str(p) for p in test_images[:N]]})
    )
    # The project is gone but its MLflow store (mlflow.db, mlartifacts/).
    for entry in project.iterdir():
        if entry.name not in ("mlflow.db", "mlartifacts"):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()

    uri = f"models:/{name}@champion"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    out_file = tmp_path / "vectors.npz"
    result = subprocess.run(
        [sys.executable, "-c", LOAD, uri, str(tmp_path / "inputs.json"), str(out_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["tie"]).is_relative_to(project / "mlartifacts"), report  # its own code
    with np.load(out_file) as loaded:
        assert loaded["captions"].dtype == np.float32
        assert np.abs(loaded["captions"] - captions[:N]).max() <= 1e-6
        assert np.abs(loaded["by_path"] - images[:N]).max() <= 1e-6
        assert np.abs(loaded["by_bytes"] - images[:N]).max() <= 1e-6
        # a batch of one caption and one image: a tower's round-off depends on its batch
        both = np.stack([loaded["captions"][0], loaded["by_bytes"][0]])
        assert np.abs(loaded["mixed"] - both).max() <= 1e-6
        known = np.abs(np.linalg.norm(loaded["captions"], axis=1) - 1) <= 1e-5
        assert known.sum() >= N - 2  # unit length but for a caption with no known word
    best = corpus.images[view.image_rows[int(np.argmax(images @ captions[0]))]]
    assert report["matches"][0] == best

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        env=env | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the server and its uvicorn worker: one group to stop
    )
    try:
        wait_until(lambda: ping(url, server), 180, "mlflow models serve to answer /ping", 0.5)
        invocations = f"{url}/invocations"
        status, served = post(
            invocations, {"dataframe_records": [{"caption": c} for c in test_captions]}
        )
        assert status == 200, served
        served_captions = np.asarray(served["predictions"], dtype=np.float32)
        body = {
            "dataframe_split": {
                "columns": ["image"],
                "data": [[b] for b in images_b64(test_images)],
            }
        }
        status, served = post(invocations, body)
        assert status == 200, served
        served_images = np.asarray(served["predictions"], dtype=np.float32)
        assert np.abs(served_captions - captions).max() <= 1e-6
        assert np.abs(served_images - images).max() <= 1e-6
        # R@K of the served vectors is the run's: the same ranks, query by query (a tower's
        # run: but where a near tie flipped, see `same_ranks`).
        keys = (*(f"R_at_{k}" for k in ks), "median_rank", "mean_rank")

        def shown(metrics):
            directions = ("image_search", "image_annotation")
            return {f"{d}/{k}": metrics[d][k] for d in directions for k in keys}

        index = view.caption_image_index
        assert shown(score(images, captions, index, ks=ks)) == pytest.approx(shown(metrics))
        flipped = same_ranks(images, captions, served_images, served_captions, view)
        assert flipped == 0 or tower, flipped
        if not flipped:
            served_metrics = score(served_images, served_captions, index, ks=ks)
            assert shown(served_metrics) == pytest.approx(shown(metrics))
        timings = {}
        for what, body in (
            ("caption", {"dataframe_records": [{"caption": test_captions[0]}]}),
            (
                "image",
                {"dataframe_split": {"columns": ["image"], "data": [images_b64(test_images[:1])]}},
            ),
        ):
            start = time.perf_counter()
            status, _ = post(invocations, body)
            timings[what] = time.perf_counter() - start
            assert status == 200
        # Bad input: a 400 that says what is wrong, no traceback.
        for body, says in (
            ({"dataframe_records": [{"caption": "   "}]}, "row 0: the caption is empty"),
            (
                {
                    "dataframe_split": {
                        "columns": ["image"],
                        "data": [[base64.b64encode(b"not an image").decode()]],
                    }
                },
                "row 0: the image cannot be read",
            ),
            ({"dataframe_records": [{"text": "a red circle"}]}, "needs a `caption` column"),
        ):
            status, answer = post(invocations, body)
            assert status == 400, answer
            assert answer["error_code"] == "INVALID_PARAMETER_VALUE" and says in answer["message"]
            assert "Traceback" not in json.dumps(answer) and "stack_trace" not in answer
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    logged = Path(report["tie"]).parents[2]  # the model's folder: <it>/code/tie/__init__.py
    size = sum(f.stat().st_size for f in logged.rglob("*") if f.is_file())
    print(
        f"{name}: load {report['load_s']:.2f} s, serve {timings}, logged model {size} bytes,"
        f" {flipped} near ties flipped"
    )


@pytest.mark.e2e
def test_a_demo_runs_model_loads_and_serves_without_the_project(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    check_the_logged_model(project, tmp_path, "demo-glove")


@pytest.mark.e2e
def test_the_other_poolings_runs_model(demo_project, tmp_path):
    """Fisher vectors if the demo pools by mean, else the mean (with SIF weights and a
    common component removed: what mean pooling fits on train travels with the model)."""
    project = copy_project(demo_project, tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    if params["caption_vectors"]["pooling"] == "mean":
        other = ["-S", "caption_vectors.pooling=fisher", "-S", "fisher.n_components=4"]
    else:
        other = ["-S", "caption_vectors.pooling=mean", "-S", "caption_vectors.sif=true"]
        other += ["-S", "caption_vectors.common_components=1"]
    run(["dvc", "exp", "run", *other], project)
    check_the_logged_model(project, tmp_path, "demo-other-pooling")


@pytest.mark.e2e
def test_a_clip_runs_model_in_the_towers_own_space(demo_project, tmp_path, tiny_clip_preset):
    pytest.importorskip("keras_hub")
    project = copy_project(demo_project, tmp_path / "project")
    clip = ["-S", "image=clip", "-S", "text=clip", "-S", f"clip.preset={tiny_clip_preset}"]
    clip += ["-S", "caption_vectors.pooling=mean"]  # a sentence encoder pools nothing
    run(["dvc", "exp", "run", *clip, "-S", "cca.method=none"], project)
    check_the_logged_model(project, tmp_path, "demo-clip", tower=True)


@pytest.mark.e2e
def test_each_split_is_an_input_of_the_run(demo_project):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{demo_project / 'mlflow.db'}")
    logged = client.get_run(newest_run_id(demo_project)).inputs.dataset_inputs
    corpus = Corpus.load(demo_project / "data/splits/demo.json")
    by_split = {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d for d in logged}
    assert sorted(by_split) == ["test", "train", "val"]
    for split, entry in by_split.items():
        view = corpus.split_view(split)
        tags = {t.key: t.value for t in entry.tags}
        assert entry.dataset.name == f"demo/{split}"
        assert tags["images"] == str(len(view.image_rows))
        assert tags["captions"] == str(len(view.caption_rows))
        assert json.loads(entry.dataset.source) == {"uri": "data/raw/demo"}
        assert len(entry.dataset.digest) == 32
    assert len({d.dataset.digest for d in logged}) == 3


def fenced_blocks(text, kind):
    """The contents of the ```kind blocks of a markdown text, in order."""
    return re.findall(rf"^```{kind}\n(.*?)^```", text, flags=re.M | re.S)


@pytest.mark.e2e
def test_the_calls_of_docs_mlflow_md_print_what_it_shows(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    section = (REPO / "docs/mlflow.md").read_text().split("## The run's model")[1]
    section = section.split("\n## ")[0]
    (register,) = fenced_blocks(section, "console")
    run(["bash", "-c", register.strip().removeprefix("$ ")], project)
    (code,) = fenced_blocks(section, "python")
    (shown,) = fenced_blocks(section, "text")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown


@pytest.mark.e2e
def test_a_result_logged_already_logs_no_second_model(demo_project, tmp_path):
    import mlflow

    project = copy_project(demo_project, tmp_path / "project")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo").experiment_id
    before = client.search_logged_models(experiment_ids=[experiment])
    assert [m.name for m in before] == ["joint_model"]
    assert before[0].source_run_id == newest_run_id(project)
    _, out = run(["dvc", "repro", "--force", "--single-item", "evaluate"], project)
    assert "already holds this result" in out
    after = client.search_logged_models(experiment_ids=[experiment])
    assert [m.model_id for m in after] == [before[0].model_id]
    # A run id that is not in the store: one line, no traceback.
    code, out = run(["tie", "register", "0123abcd", "--name", "demo-joint"], project, check=False)
    assert code == 1 and "Error: no run '0123abcd' in the MLflow store" in out, out
    assert "Traceback" not in out


def test_a_weights_file_or_a_preset_given_relative_to_the_project_is_referenced_absolute(
    tmp_path, monkeypatch
):
    from tie.config.params import read_params
    from tie.evaluation.mlflow_model import model_spec

    monkeypatch.chdir(tmp_path)
    params = read_params(REPO / "params.yaml")
    sections = ("dataset", "text", "tokenizer", "caption_vectors", "image_decode", "eval")
    sections += ("backbone", "clip", "siglip")
    params = {name: params[name] for name in sections}
    keras = model_spec(
        stage_params(**params | {"image": "mobilenet", "backbone": {"weights": "w.h5"}}), 8
    )
    assert keras["image_params"]["weights"] == str(tmp_path / "w.h5")
    mobilenet = model_spec(stage_params(**params | {"image": "mobilenet"}), 8)
    assert mobilenet["image_params"]["weights"] == "imagenet"
    clip = params | {"image": "clip", "text": "clip", "clip": {"preset": "./presets/tiny"}}
    spec = model_spec(stage_params(**clip), 8)
    assert spec["image_params"]["preset"] == spec["text_params"]["preset"]
    assert spec["text_params"]["preset"] == str(tmp_path / "presets/tiny")
    named = model_spec(stage_params(**params | {"image": "clip", "text": "clip"}), 8)
    assert named["image_params"]["preset"] == "clip_vit_base_patch32"  # KerasHub's name


@pytest.mark.parametrize(
    "fitted",
    [{"idf": True}, {"sif": True, "common_components": 1}, {"common_components": 2}],
    ids=["idf", "sif+common", "common"],
)
def test_what_mean_pooling_fits_on_train_travels_with_the_model(tmp_path, fitted):
    from tie.config.params import read_params
    from tie.evaluation.mlflow_model import _text_encoder, _write_fitted
    from tie.text.captions import CaptionEncoder
    from tie.text.word_vectors import WordVectors

    corpus = Corpus(
        "demo",
        ["a.png", "b.png", "c.png"],
        ["train", "train", "test"],
        [["a red circle", "red square"], ["blue circle", "a blue circle left"], ["red red"]],
    )
    words = ["red", "circle", "square", "blue", "left"]
    vectors = np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32)
    WordVectors(words, vectors).save(tmp_path / "vocab.npz")
    params = read_params(REPO / "params.yaml")
    params["caption_vectors"] = params["caption_vectors"] | {"pooling": "mean"} | fitted
    typed = stage_params(tokenizer={}, caption_vectors=params["caption_vectors"])
    artifacts = _write_fitted(tmp_path, typed, tmp_path / "vocab.npz", corpus)
    assert sorted(artifacts) == sorted(
        (["weights"] if "idf" in fitted or "sif" in fitted else [])
        + (["common"] if "common_components" in fitted else [])
    )
    spec = {"text_kind": "word_vectors"} | {k: params[k] for k in ("tokenizer", "caption_vectors")}
    logged = _text_encoder(spec, artifacts | {"vocab": tmp_path / "vocab.npz"})
    library = CaptionEncoder.from_params(typed, tmp_path / "vocab.npz", corpus)
    captions = ["a red circle and a blue square", "left red", "blue"]
    np.testing.assert_array_equal(logged.encode(captions), library.encode(captions))
    plain = {"pooling": "mean", "idf": False, "sif": False, "common_components": 0}
    unfitted = stage_params(tokenizer={}, caption_vectors=params["caption_vectors"] | plain)
    unfitted = CaptionEncoder.from_params(unfitted, tmp_path / "vocab.npz", corpus)
    assert not np.array_equal(logged.encode(captions), unfitted.encode(captions))
