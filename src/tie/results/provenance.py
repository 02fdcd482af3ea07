"""What produced a result, read from the record of its run, never from params.yaml.

Every number `tie show` and `tie report` print is labelled with its provenance: the
dataset and its split, the evaluated split and its protocol counts (test images and
captions), the text encoder and how word vectors were pooled, the image encoder, and
the CCA params chosen on val. They come from the run's record:

- the workspace: `dvc.lock` (the params every stage last completed with) and the
  metrics files it records, checked byte for byte against the lock's hashes, so a
  metrics file from another run (an interrupted one, an edited one) is never labelled
  with this run's settings;
- a DVC experiment: the same files, in its commit;
- an MLflow run: its logged params (`cca_selected.*`: the CCA chosen; `eval.scoring` and
  `scoring_selected.*`: the scoring rule and its params chosen on val) and metrics.

The current params.yaml plays no part: after a failed `dvc exp run` it holds the
settings of a run that produced nothing.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tie.config.lock import LOCK_FILE, Lock
from tie.config.paths import CCA_SELECTION as SELECTION_FILE
from tie.config.paths import RETRIEVAL as METRICS_FILE
from tie.config.paths import SCORING_SELECTION
from tie.config.registry import CCA_PARAMS, HUBNESS_PARAMS, TOWER_MODEL_NAMES
from tie.datasets.kinds import KINDS
from tie.errors import TieError

RESTORE_HINT = (
    "To get the last commit's run back: `git checkout -- params.yaml dvc.lock metrics/`,"
    " then `dvc checkout`; or `dvc repro` with the params of a run computed before (its"
    " stages come back from DVC's cache, nothing is recomputed)"
)


# Settings of caption_vectors that shape the mean only (no effect on Fisher vectors).
MEAN_ONLY = tuple(
    f"caption_vectors.{key}" for key in ("idf", "sif", "word_scaling", "common_components")
)


def applicable(pooling: dict) -> dict:
    """The pooling settings that shaped the captions' vectors: with Fisher vectors the
    `fisher.*` ones, with the mean those of `caption_vectors`, never the other kind's."""
    method = pooling.get("caption_vectors.pooling")
    return {
        key: value
        for key, value in pooling.items()
        if not (method == "fisher" and key in MEAN_ONLY)
        and not (method != "fisher" and key.startswith("fisher."))
    }


@dataclass(frozen=True)
class Provenance:
    """What one set of retrieval numbers was computed from."""

    dataset: str
    split: str | None  # the dataset's split lists: official | karpathy
    eval_split: str | None  # the split scored: test | val
    n_test_images: int | None  # candidates of image search
    n_test_captions: int | None  # candidates of image annotation
    text: str | None
    pooling: dict = field(default_factory=dict)  # how word vectors became a caption vector
    image: str | None = None
    cca: dict = field(default_factory=dict)  # the CCA params chosen on val
    split_seed: int | None = None  # dataset custom: the seed of its hashed split
    # eval.scoring (a record made before it existed: cosine, the only rule then), and its
    # params chosen on val (None: a rule other than cosine whose choice is not recorded)
    scoring: str = "cosine"
    scoring_params: dict | None = field(default_factory=dict)

    @property
    def protocol(self) -> tuple:
        """What must match for two results to be compared: dataset, split scored, counts."""
        return (self.dataset, self.eval_split, self.n_test_images, self.n_test_captions)

    def describe(self) -> str:
        """One line: `demo (official split), test split: 200 images / 1000 captions; ...`."""
        kind = KINDS.get(self.dataset)  # a record of a dataset this version lacks: its name
        split = f" ({self.split} split)" if self.split else ""
        if kind is not None:
            split = kind.split_text(self.split, self.split_seed)
        protocol = protocol_text(self.eval_split, self.n_test_images, self.n_test_captions)
        pooling = ", ".join(f"{k}={v}" for k, v in applicable(self.pooling).items())
        text = f"text {self.text}" + (f" ({pooling})" if pooling else "")
        cca = ", ".join(f"{k}={v}" for k, v in self.cca.items()) or "not recorded"
        return (
            f"{self.dataset}{split}, {protocol}; {text}; image {self.image}; CCA chosen: {cca};"
            f" scoring {self.scoring_text()}"
        )

    def scoring_text(self) -> str:
        """`cosine`; `qb_norm (beta=20.0, activation_k=1)` (its params chosen on val)."""
        if self.scoring_params is None:
            return f"{self.scoring} (params not recorded)"
        details = ", ".join(f"{k}={v}" for k, v in self.scoring_params.items())
        return f"{self.scoring} ({details})" if details else self.scoring

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "eval_split": self.eval_split,
            "n_test_images": self.n_test_images,
            "n_test_captions": self.n_test_captions,
            "text": self.text,
            "pooling": self.pooling,
            "image": self.image,
            "cca": self.cca,
            "split_seed": self.split_seed,
            "scoring": self.scoring,
            "scoring_params": self.scoring_params,
        }


def protocol_text(eval_split, n_images, n_captions) -> str:
    def count(n):
        return "?" if n is None else f"{n:g}"

    return f"{eval_split or '?'} split: {count(n_images)} images / {count(n_captions)} captions"


def cca_values(chosen: dict) -> dict:
    """The CCA params chosen, typed as the schema types them (n_components an integer,
    reg and scale_power numbers), so that 2, 2.0 and MLflow's "2.0" read alike: 2.0."""
    return {
        name: int(value) if name == "n_components" else float(value)
        for name, value in chosen.items()
    }


def count(value) -> int | None:
    """A count as an integer (MLflow logs every metric as a float: 200.0 is 200)."""
    return None if value is None else int(value)


def eval_counts(metrics: dict) -> tuple[int | None, int | None]:
    """(test images, test captions) from a metrics file's `n_candidates` entries."""
    images = metrics.get("image_search", {}).get("n_candidates")
    captions = metrics.get("image_annotation", {}).get("n_candidates")
    return count(images), count(captions)


def _md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


def scoring_values(chosen: dict) -> dict:
    """A rule's params chosen, typed as the schema types them (k an integer, beta a number),
    so that 20, 20.0 and MLflow's "20.0" read alike."""
    return {
        name: int(float(chosen[name])) if name.endswith("_k") else float(chosen[name])
        for name in HUBNESS_PARAMS
        if name in chosen
    }


def from_lock(
    lock: Lock | None,
    metrics: bytes,
    selection: bytes | None,
    where: str,
    scoring_selection: bytes | None = None,
):
    """The provenance of `metrics` (the bytes of metrics/retrieval.json), from a dvc.lock.

    `where` names the run in messages ("the workspace", "experiment w2v"). Fails when
    the lock does not record these very bytes as the evaluate stage's output. The
    selection files (the CCA's, the scoring's) count only where the lock records them.
    """
    if lock is None:
        raise TieError(
            f"{where} has {METRICS_FILE} but no {LOCK_FILE}: nothing records how it was"
            " produced; run `dvc repro`"
        )
    recorded = lock.out("evaluate", METRICS_FILE)
    if recorded is None or recorded.get("md5") != _md5(metrics):
        raise TieError(
            f"{METRICS_FILE} in {where} is not the file {LOCK_FILE} records for the evaluate"
            f" stage (left by an interrupted or failed run, or edited). {RESTORE_HINT}"
        )
    evaluate = lock.params("evaluate")
    cca = {}
    selection_out = lock.out("cca", SELECTION_FILE)
    if selection is not None and selection_out and selection_out.get("md5") == _md5(selection):
        chosen = json.loads(selection)
        cca = cca_values({name: chosen[name] for name in CCA_PARAMS if name in chosen})
    if (lock.params("cca").get("cca") or {}).get("method") == "none":
        cca = {"method": "none"}  # the zero-shot row: the model's own space, no CCA
    scoring = (evaluate.get("eval") or {}).get("scoring", "cosine")
    scoring_params = {} if scoring == "cosine" else None
    scoring_out = lock.out("evaluate", SCORING_SELECTION)
    if (
        scoring_params is None
        and scoring_selection is not None
        and scoring_out
        and scoring_out.get("md5") == _md5(scoring_selection)
    ):
        scoring_params = scoring_values(json.loads(scoring_selection))
    images, captions = eval_counts(json.loads(metrics))
    return Provenance(
        dataset=evaluate.get("dataset", "?"),
        split=lock.params("splits").get("split"),
        eval_split=(evaluate.get("eval") or {}).get("split"),
        n_test_images=images,
        n_test_captions=captions,
        text=evaluate.get("text"),
        pooling=_pooling(lock.params("text_features"), lock.params("mixture")),
        image=evaluate.get("image"),
        cca=cca,
        split_seed=lock.params("splits").get("custom.split_seed"),
        scoring=scoring,
        scoring_params=scoring_params,
    )


def _pooling(text_features: dict, mixture: dict) -> dict:
    """The text_features settings that shape a caption vector, flattened (not tokenizer).

    For word vectors, `caption_vectors`; for a sentence encoder (`clip`, `siglip`), its
    own section (the preset). The section of a model that is not the text encoder is
    declared by the stage but plays no part. With Fisher-vector pooling, also the mixture
    stage's `fisher.*` settings.
    """
    text = text_features.get("text")
    sentence = text in TOWER_MODEL_NAMES
    fisher = (text_features.get("caption_vectors") or {}).get("pooling") == "fisher"
    flat = {}
    for key, value in text_features.items():
        if key in ("dataset", "text", "tokenizer") or (key.startswith("fisher") and not fisher):
            continue
        if (key in TOWER_MODEL_NAMES and key != text) or (key == "caption_vectors" and sentence):
            continue
        if isinstance(value, dict):
            flat |= {f"{key}.{k}": v for k, v in value.items()}
        else:
            flat[key] = value
    if fisher:
        flat |= {k: v for k, v in mixture.items() if k.startswith("fisher.")}
    return flat


def workspace_provenance(root: Path = Path(".")) -> tuple[dict, Provenance]:
    """The workspace's metrics and their provenance; a clear error if either is missing."""
    root = Path(root)
    metrics_path = root / METRICS_FILE
    if not metrics_path.exists():
        raise TieError(
            f"{METRICS_FILE} is missing: the last `dvc repro` or `dvc exp run` failed or was"
            f" stopped, and DVC removed the outputs of the stages it had started. {RESTORE_HINT}"
        )
    selection = root / SELECTION_FILE
    scoring_selection = root / SCORING_SELECTION
    content = metrics_path.read_bytes()
    provenance = from_lock(
        Lock.of_workspace(root, "the workspace"),
        content,
        selection.read_bytes() if selection.exists() else None,
        "the workspace",
        scoring_selection.read_bytes() if scoring_selection.exists() else None,
    )
    return json.loads(content), provenance


def _git_show(rev: str, path: str, root: Path) -> bytes | None:
    result = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, check=False
    )
    return result.stdout if result.returncode == 0 else None


def provenance_at(rev: str, where: str, root: Path = Path(".")) -> tuple[dict, Provenance] | None:
    """The metrics and provenance recorded in commit `rev` (an experiment); None if none."""
    metrics = _git_show(rev, METRICS_FILE, root)
    if metrics is None:
        return None
    lock = Lock.at_revision(rev, where, root)
    selection = _git_show(rev, SELECTION_FILE, root)
    scoring_selection = _git_show(rev, SCORING_SELECTION, root)
    provenance = from_lock(lock, metrics, selection, where, scoring_selection)
    return json.loads(metrics), provenance


def from_mlflow(logged: dict[str, str], metrics: dict[str, float]) -> Provenance:
    """The provenance an MLflow run logged: its params (`logged`, as strings) and metrics."""
    text = logged.get("text")
    prefixes = (f"{text}.",) if text in TOWER_MODEL_NAMES else ("caption_vectors.", "pooling")
    if logged.get("caption_vectors.pooling") == "fisher":
        prefixes += ("fisher.",)
    pooling = {key: value for key, value in logged.items() if key.startswith(prefixes)}
    chosen = {name: logged.get(f"cca_selected.{name}") for name in CCA_PARAMS}
    cca = cca_values({name: value for name, value in chosen.items() if value is not None})
    if logged.get("cca_selected.method") == "none":
        cca = {"method": "none"}  # the zero-shot row: the model's own space, no CCA
    scoring = logged.get("eval.scoring", "cosine")
    chosen = {
        name[len("scoring_selected.") :]: value
        for name, value in logged.items()
        if name.startswith("scoring_selected.")
    }
    scoring_params = scoring_values(chosen) if chosen or scoring == "cosine" else None
    return Provenance(
        dataset=logged.get("dataset", "?"),
        split=logged.get("split"),
        eval_split=logged.get("eval.split"),
        n_test_images=count(metrics.get("image_search/n_candidates")),
        n_test_captions=count(metrics.get("image_annotation/n_candidates")),
        text=logged.get("text"),
        pooling=pooling,
        image=logged.get("image"),
        cca=cca,
        split_seed=int(logged["custom.split_seed"]) if "custom.split_seed" in logged else None,
        scoring=scoring,
        scoring_params=scoring_params,
    )
