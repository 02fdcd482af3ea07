"""`tie register RUN_ID --name NAME`: a run's joint model into MLflow's model registry.

RUN_ID may be `latest`: the newest finished run of the store that logged a joint model.

Every evaluate run logs its joint model (`tie.evaluation.mlflow_model`, `runs:/<run
id>/joint_model`). Registering it makes a new version of the registered model NAME and
points an alias at it (`champion` by default: MLflow 3 aliases, not stages), so that
`mlflow.pyfunc.load_model("models:/NAME@champion")` and `mlflow models serve -m
models:/NAME@champion` find whichever version the alias names now. The store is the
project's (`tie.evaluation.tracking.tracking_uri`: `<repo>/mlflow.db` or
`MLFLOW_TRACKING_URI`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tie.errors import TieError
from tie.evaluation.mlflow_model import MODEL_NAME
from tie.evaluation.tracking import tracking_uri
from tie.redact import redact

# MLflow's registered model names: no "/" or ":" (a models:/ URI could not name them)
VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")
VALID_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Registered:
    run_id: str
    name: str
    version: str
    alias: str
    uri: str  # models:/NAME@alias


def register_run(run_id: str, name: str, alias: str = "champion") -> Registered:
    """Register run `run_id`'s joint model as a new version of `name`, with `alias`."""
    import mlflow

    if not VALID_NAME.match(name):
        raise TieError(f"--name {name!r}: use letters, digits, '_', '-', '.' (no '/' or ':')")
    if not VALID_ALIAS.match(alias) or re.fullmatch(r"[vV]\d+|latest", alias):
        raise TieError(
            f"--alias {alias!r}: use letters, digits, '_', '-' (not `latest` or v<number>,"
            " which MLflow keeps for versions)"
        )
    uri = tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    if run_id == "latest":
        run_id = latest_run_id(client, uri)
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise TieError(
            f"no run {run_id!r} in the MLflow store {redact(uri)}: copy a run id from `mlflow"
            " ui` (or `tie ui`), or from the line the evaluate stage printed"
        ) from None
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{MODEL_NAME}'",
    )
    if not models:
        raise TieError(
            f"run {run_id} has no logged joint model ({MODEL_NAME}): it was logged before"
            " models were; re-run its evaluation (`dvc repro -f -s evaluate`) to log one"
        )
    mlflow.set_registry_uri(uri)
    version = mlflow.register_model(f"models:/{models[0].model_id}", name)
    client.set_registered_model_alias(name, alias, version.version)
    return Registered(run_id, name, str(version.version), alias, f"models:/{name}@{alias}")


def latest_run_id(client, uri: str) -> str:
    """The newest finished run of the store that logged a joint model."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    models = client.search_logged_models(
        experiment_ids=experiments,
        filter_string=f"name = '{MODEL_NAME}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
    )
    for model in models:
        if model.source_run_id and client.get_run(model.source_run_id).info.status == "FINISHED":
            return model.source_run_id
    raise TieError(f"no run of the MLflow store {redact(uri)} has a joint model: run `dvc repro`")
