"""The joint model of a run as an MLflow model: captions and images into the joint space.

Each evaluate run logs, inside its MLflow run, everything needed to map a new caption or a
new image where the run's own were (`log_joint_model`): the spec (`spec.json`: the text
and image encoders by name with their params section, the tokenizer, the pooling, the
scoring rule, the joint space's dimension), the `vocab` stage's word vectors (the
dataset's vocabulary only, never a pretrained table), the Fisher-vector encoder (with
`caption_vectors.pooling: fisher`), the word weights (IDF or SIF) and common components
fitted on the train captions (`caption_vectors.idf`, `sif`, `common_components`), the
joint model (the cca stage's folder: a CCA or the towers' identity), and the gallery (the
eval split's images and captions in the joint space, for search). The `tie` package's own
code goes with it (`code_paths`), so that it loads in a process without the project: the
vectors come from the very encoders the pipeline ran. What is large and shared is
referenced, not copied: Keras' ImageNet weights (Keras' cache) and a CLIP / SigLIP preset
(KerasHub's cache or the preset's directory, by the name or path in its params section).

`mlflow.pyfunc.load_model(uri).predict(table)`: `table` has a `caption` column and/or an
`image` column (a file path, or the image file's bytes; over HTTP, base64); each row has
exactly one of them. The answer is one float32 row of unit length per input row (a caption
with no known word is the zero row: "no information", as in the pipeline). With
`params={"top_k": k}` the answer is a table instead: each row's `embedding`, and the `k`
closest items of the gallery (`matches`: image names for a caption, caption ids for an
image) with their cosine `scores`. Bad input (an empty caption, an unreadable image, no
such column) is refused with an `MlflowException` of `INVALID_PARAMETER_VALUE`, which the
scoring server (`mlflow models serve`) answers with status 400 and the message.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

MODEL_NAME = "joint_model"  # the model's name in its run: runs:/<run id>/joint_model
SPEC_FILE = "spec.json"
FORMAT = 1  # of the spec and the artifacts' layout
# The distributions the model's code imports, pinned at the versions that logged it.
REQUIREMENTS = ("mlflow", "numpy", "pandas", "pillow", "scikit-learn", "scipy", "tqdm")
TOWER_REQUIREMENTS = ("keras", "keras-hub", "tensorflow")


def model_spec(params, dim: int) -> dict:
    """What the model is, from the params the run read (typed, `tie.config.params`):
    encoders, tokenizer, pooling, scoring."""
    from tie.config.registry import TEXT_ENCODERS
    from tie.image.keras_models import KERAS_MODELS
    from tie.towers.models import TOWER_MODELS, is_local_preset

    text, image = params.text, params.image
    sentence = TEXT_ENCODERS[text].kind == "sentence"
    text_section = getattr(params, text).model_dump() if sentence else {}
    image_section = {}
    if image in KERAS_MODELS:
        image_section = params.backbone.model_dump()
        if str(image_section["weights"]) not in ("imagenet", "none"):  # a weights file
            image_section["weights"] = _absolute(image_section["weights"])
    elif image in TOWER_MODELS:
        image_section = getattr(params, image).model_dump()
    # Referenced, not copied: a path given relative to the project is made absolute.
    for section in (text_section, image_section):
        if "preset" in section and is_local_preset(section["preset"]):
            section["preset"] = _absolute(section["preset"])
    return {
        "format": FORMAT,
        "dataset": params.dataset,
        "text": text,
        "text_kind": "sentence" if sentence else "word_vectors",
        "text_params": text_section,
        "tokenizer": params.tokenizer.model_dump(),
        "caption_vectors": params.caption_vectors.model_dump(),
        "image": image,
        "image_params": image_section,
        "max_pixels": params.image_decode.max_pixels,
        "scoring": params.eval.scoring,
        "dim": dim,
        "gallery_split": params.eval.split,
    }


def _absolute(path) -> str:
    return str(Path(path).expanduser().resolve())


def _requirements(spec: dict) -> list[str]:
    from tie.towers.models import TOWER_MODELS

    names = list(REQUIREMENTS)
    if spec["image"] in TOWER_MODELS or spec["text"] in TOWER_MODELS or spec["image_params"]:
        names += TOWER_REQUIREMENTS  # a Keras CNN or a tower
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def _package_copy(folder: Path) -> Path:
    """The running `tie` package's source, copied into `folder` without its caches."""
    import tie

    source = Path(tie.__file__).resolve().parent
    target = folder / "tie"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def signature(dim: int):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

    inputs = Schema(
        [ColSpec("string", "caption", required=False), ColSpec("binary", "image", required=False)]
    )
    outputs = Schema([TensorSpec(np.dtype(np.float32), (-1, dim))])
    params = ParamSchema([ParamSpec("top_k", "long", 0)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_joint_model(
    params,
    *,
    corpus,
    split,
    model_dir: Path,
    vocab_file: Path,
    mixture_dir: Path,
    scoring_params: dict | None = None,
) -> str:
    """Log the run's joint model in the active MLflow run; its model URI.

    `split` is the eval split in the joint space (`SplitEmbeddings`): the search gallery.
    `scoring_params`: those of `eval.scoring` chosen on val, recorded in the spec (the
    vectors are the joint space's; `top_k` search ranks by cosine).
    """
    import mlflow

    gallery = gallery_of(split, corpus)
    dim = int(split.images.shape[1])
    spec = model_spec(params, dim) | {"scoring_params": scoring_params or {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / SPEC_FILE).write_text(json.dumps(spec, indent=2, default=str) + "\n")
        np.savez(tmp / "gallery.npz", **gallery)
        artifacts = {"spec": tmp / SPEC_FILE, "joint": model_dir, "gallery": tmp / "gallery.npz"}
        if spec["text_kind"] == "word_vectors":
            artifacts["vocab"] = vocab_file
            if params.caption_vectors.pooling == "fisher":
                artifacts["mixture"] = mixture_dir
            else:  # what mean pooling fitted on the train captions, if anything
                artifacts |= _write_fitted(tmp, params, vocab_file, corpus)
        with _quiet_logging():
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME,
                python_model=JointModel(),
                artifacts={key: str(path) for key, path in artifacts.items()},
                code_paths=[str(_package_copy(tmp / "code"))],
                signature=signature(dim),
                pip_requirements=_requirements(spec),
                metadata={"tie": spec},
            )
    return info.model_uri


@contextlib.contextmanager
def _quiet_logging():
    """MLflow's advice on logging a model (pickling a Python object, no input example) goes
    to every `dvc repro`'s output; this model is pickled on purpose (a small class of the
    `tie` package shipped with it) and has an explicit signature: said once, in the docs."""
    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*An input example was not provided")
            yield
    finally:
        logger.setLevel(level)


def _write_fitted(folder: Path, params, vocab_file: Path, corpus) -> dict[str, Path]:
    """What mean pooling fitted on the train captions (the text_features stage's own fit):
    the words' weights (`weights.json`: IDF or SIF) and the common components removed
    (`common.npy`); {artifact name: file} of those it has."""
    from tie.text.captions import CaptionEncoder

    encoder = CaptionEncoder.from_params(params, vocab_file, corpus)
    files = {}
    if encoder.weights is not None:
        weights = encoder.weights
        stored = {"kind": type(weights).__name__, "weights": weights.weights}
        stored |= {"unseen": weights.unseen} | ({"a": weights.a} if hasattr(weights, "a") else {})
        files["weights"] = folder / "weights.json"
        files["weights"].write_text(json.dumps(stored) + "\n")
    if encoder.common is not None:
        files["common"] = folder / "common.npy"
        np.save(files["common"], encoder.common.directions)
    return files


def gallery_of(split, corpus) -> dict[str, np.ndarray]:
    """The eval split's embeddings as the model's search gallery: unit float32 rows, ids."""
    from tie.features.rows import unit_rows

    view = split.view
    return {
        "image_ids": np.array([corpus.images[r] for r in view.image_rows], dtype=str),
        "image_vectors": unit_rows(split.images).astype(np.float32),
        "caption_ids": np.array([corpus.caption_ids[r] for r in view.caption_rows], dtype=str),
        "caption_vectors": unit_rows(split.captions).astype(np.float32),
    }


def _invalid(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a dependency of the package
    PythonModel = object


class JointModel(PythonModel):
    """Captions and images into a run's joint space (see the module's docstring)."""

    def load_context(self, context) -> None:
        from tie.joint.space import load_joint_model

        artifacts = context.artifacts
        self.spec = json.loads(Path(artifacts["spec"]).read_text())
        self.joint = load_joint_model(artifacts["joint"])
        self.text_encoder = _text_encoder(self.spec, artifacts)
        self.image_encoder = _image_encoder(self.spec)
        with np.load(artifacts["gallery"]) as gallery:
            self.gallery = {name: gallery[name] for name in gallery.files}

    # The hint (a table) is one MLflow takes as is: the signature above says the columns.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        table = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        columns = [c for c in ("caption", "image") if c in table.columns]
        if not columns:
            raise _invalid(
                "the input needs a `caption` column (text) or an `image` column (an image file's"
                " bytes, base64 in JSON, or a file path); it has neither"
            )
        captions = table["caption"].tolist() if "caption" in columns else [None] * len(table)
        images = table["image"].tolist() if "image" in columns else [None] * len(table)
        caption_rows, image_rows = [], []
        for row, (caption, image) in enumerate(zip(captions, images, strict=True)):
            given = (not _missing(caption), not _missing(image))
            if given == (True, True):
                raise _invalid(f"row {row} has both a caption and an image: give one per row")
            if given == (False, False):
                raise _invalid(f"row {row} has neither a caption nor an image")
            (caption_rows if given[0] else image_rows).append(row)
        vectors = np.zeros((len(table), self.spec["dim"]), dtype=np.float32)
        if caption_rows:
            texts = [captions[r] for r in caption_rows]
            vectors[caption_rows] = self.embed_captions(texts, caption_rows)
        if image_rows:
            vectors[image_rows] = self.embed_images([images[r] for r in image_rows], image_rows)
        top_k = int((params or {}).get("top_k") or 0)
        if top_k < 0:
            raise _invalid(f"top_k must be 0 (embed only) or more, got {top_k}")
        if top_k == 0:
            return vectors
        return self.search(vectors, set(image_rows), top_k)

    def embed_captions(self, captions: list, rows: list[int]) -> np.ndarray:
        """Unit float32 rows of `captions` (of table rows `rows`), as the pipeline embeds its
        own captions."""
        from tie.features.rows import unit_rows

        for row, caption in zip(rows, captions, strict=True):
            if not isinstance(caption, str):
                raise _invalid(f"row {row}: a caption is text, not a {type(caption).__name__}")
            if not caption.strip():
                raise _invalid(f"row {row}: the caption is empty: give some words")
        features = self.text_encoder.encode(captions)
        return unit_rows(self.joint.transform_captions(np.asarray(features))).astype(np.float32)

    def embed_images(self, images: list, rows: list[int]) -> np.ndarray:
        """Unit float32 rows of `images` (bytes or file paths), as the pipeline embeds its own."""
        from tie.features.rows import unit_rows
        from tie.image.decode import ImageDecodeError, decode_problem, image_size
        from tie.image.extract import encode_shard

        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for row, image in zip(rows, images, strict=True):
                if isinstance(image, bytes | bytearray | memoryview):
                    path = Path(tmp) / f"{len(paths)}.image"
                    path.write_bytes(bytes(image))
                elif isinstance(image, str | Path):
                    path = Path(image)
                else:
                    raise _invalid(
                        f"row {row}: an image is a file's bytes or its path, not a"
                        f" {type(image).__name__}"
                    )
                try:
                    image_size(path, self.spec["max_pixels"])
                except ImageDecodeError as error:
                    raise _invalid(f"row {row}: the image cannot be read: {error}") from None
                paths.append(path)
            features, readable = encode_shard(self.image_encoder, paths)
            for position in np.flatnonzero(~readable):
                why = decode_problem(paths[position]) or f"the {self.spec['image']} encoder failed"
                raise _invalid(f"row {rows[position]}: the image cannot be read: {why}")
        return unit_rows(self.joint.transform(features)).astype(np.float32)

    def search(self, vectors: np.ndarray, image_rows: set[int], top_k: int):
        """Each row's `top_k` closest gallery items: images for a caption, captions for an image."""
        g = self.gallery
        matches, scores = [], []
        for row, vector in enumerate(vectors):
            if row in image_rows:
                ids, candidates = g["caption_ids"], g["caption_vectors"]
            else:
                ids, candidates = g["image_ids"], g["image_vectors"]
            similarity = candidates.astype(np.float64) @ vector.astype(np.float64)
            order = np.argsort(-similarity, kind="stable")[:top_k]
            matches.append([str(ids[i]) for i in order])
            scores.append([float(similarity[i]) for i in order])
        return pd.DataFrame({"embedding": list(vectors), "matches": matches, "scores": scores})


def _text_encoder(spec: dict, artifacts: dict):
    """The text_features stage's encoder, rebuilt from the spec and the artifacts."""
    if spec["text_kind"] == "sentence":
        from tie.text.tower import TowerTextEncoder

        return TowerTextEncoder(spec["text"], **spec["text_params"])
    from tie.text.captions import CaptionEncoder
    from tie.text.fisher_vectors import FisherVectors
    from tie.text.tokenize import Tokenizer
    from tie.text.word_vectors import CommonComponents, Idf, Sif, WordVectors

    tokenizer = Tokenizer(**spec["tokenizer"])
    word_vectors = WordVectors.load(Path(artifacts["vocab"]))
    settings = spec["caption_vectors"]
    if settings["pooling"] == "fisher":
        return CaptionEncoder(
            tokenizer, word_vectors, fisher=FisherVectors.load(artifacts["mixture"])
        )
    weights = common = None
    if "weights" in artifacts:
        stored = json.loads(Path(artifacts["weights"]).read_text())
        kind = {"Idf": Idf, "Sif": Sif}[stored.pop("kind")]
        weights = kind(**stored)
    if "common" in artifacts:
        common = CommonComponents(np.load(artifacts["common"]))
    return CaptionEncoder(tokenizer, word_vectors, weights, settings["word_scaling"], common)


def _image_encoder(spec: dict):
    """The image_features stage's encoder, from the spec (weights and presets referenced)."""
    from tie.image.encoders import build_image_encoder

    return build_image_encoder(spec["image"], spec["image_params"])
