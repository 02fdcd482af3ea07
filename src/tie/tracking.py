"""MLflow tracking: every evaluation is one run in the experiment of its dataset.

The default store is `sqlite:///<repo root>/mlflow.db`, with artifacts beside it in
`<repo root>/mlartifacts`. "Repo root" is DVC's `DVC_ROOT`, which DVC points at the
user's repository even when a queued experiment runs in a temporary copy
(`.dvc/tmp/exps/...`), so those runs land in the same store instead of vanishing
with the copy. `MLFLOW_TRACKING_URI` overrides the store (e.g. an `mlflow server`).

MLflow's REST client retries a failing server for minutes by default. A stage has
already written its metrics when it logs, so an unreachable server should fail it
within seconds, naming the URI: the retry defaults below do that (each can still be
set in the environment).
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from tie.errors import TieError
from tie.params import flatten

# MLflow would otherwise try to send usage telemetry; this pipeline talks to its own
# tracking store only. Set MLFLOW_DISABLE_TELEMETRY=false to allow it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def repo_root() -> Path:
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def default_tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def tracking_uri(root: Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root or repo_root())


def git_revision(root: Path) -> str:
    """The commit the run's code comes from: DVC's baseline for experiments, else HEAD."""
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        return os.environ["DVC_EXP_BASELINE_REV"]
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def metric_names(metrics: dict) -> dict[str, float]:
    """`{"image_search": {"R_at_1": x}}` -> `{"image_search/R_at_1": x}`."""
    return {
        f"{direction}/{name}": float(value)
        for direction, values in metrics.items()
        for name, value in values.items()
    }


def _experiment_id(mlflow, name: str, root: Path, default_store: bool) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (root / "mlartifacts" / name).as_uri() if default_store else None
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another queued run created it first.
        return mlflow.get_experiment_by_name(name).experiment_id


def _store_named_on_failure(log):
    """A failure to reach the tracking store becomes one clear error that names it."""

    @functools.wraps(log)
    def wrapper(*args, **kwargs):
        import mlflow
        import requests

        try:
            return log(*args, **kwargs)
        except (mlflow.exceptions.MlflowException, requests.RequestException) as error:
            reason = str(error).strip().splitlines()[0]
            raise TieError(
                f"could not log the run to MLflow at {tracking_uri()}: {reason}. "
                "The metrics files are written. Start the tracking server (or unset"
                " MLFLOW_TRACKING_URI to use the local store), then re-run `dvc repro`."
            ) from error

    return wrapper


@_store_named_on_failure
def log_evaluation(
    dataset: str,
    params: dict,
    metrics: dict,
    artifacts: list[Path],
    extra_metrics: dict[str, float] | None = None,
) -> str:
    """Log one evaluation as an MLflow run; returns the run id."""
    import mlflow

    root = repo_root()
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    experiment_id = _experiment_id(mlflow, dataset, root, uri == default_tracking_uri(root))
    exp_name = os.environ.get("DVC_EXP_NAME")
    revision = git_revision(Path.cwd())
    tags = {
        "dvc.experiment": exp_name or "workspace",
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
        "git.revision": revision,
        "mlflow.source.git.commit": revision,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=exp_name, tags=tags) as run:
        mlflow.log_params(flatten(params))
        mlflow.log_metrics(metric_names(metrics) | (extra_metrics or {}))
        for path in artifacts:
            mlflow.log_artifact(str(path))
    return run.info.run_id
