"""MLflow tracking: every evaluation is one run in the experiment of its dataset.

The default store is `sqlite:///<repo root>/mlflow.db`, with artifacts beside it in
`<repo root>/mlartifacts`. "Repo root" is DVC's `DVC_ROOT`, which DVC points at the
user's repository even when a queued experiment runs in a temporary copy
(`.dvc/tmp/exps/...`), so those runs land in the same store instead of vanishing
with the copy. `MLFLOW_TRACKING_URI` overrides the store (e.g. an `mlflow server`).

MLflow's REST client retries a failing server for minutes by default; an unreachable
server should fail the stage within seconds, naming the URI: the retry defaults below
do that (each can still be set in the environment). Its timeout is per read, so a server
that answers a byte at a time holds a request forever: logging to a server has a total
deadline, `TIE_MLFLOW_DEADLINE_S` (default 120 s), after which the stage fails in one
line (a run it had started is marked FAILED by the next logging, as a killed one is).

One run per distinct computed result: each run carries a fingerprint tag (`tie.fingerprint`,
see `fingerprint`), a hash of the evaluate stage's lock entry (what DVC records the numbers
were computed from). Logging the same
fingerprint again (a forced re-run, a run-cache miss) adds nothing; the existing run's id
is returned. A process killed while logging leaves its run `RUNNING`; the next logging
marks such runs `FAILED` (runs of this pipeline whose process, on this host, is gone).
The evaluate stage logs before it writes its metrics file, so a stage whose run was not
logged is never recorded by DVC as done (docs/mlflow.md).

What the MLflow UI shows first: MLflow 3 opens an experiment without a kind on its GenAI
"Overview" (traces), where this pipeline's runs look missing; the project's experiments are
tagged as model development (`EXPERIMENT_KIND_TAG`), which opens them on their runs, and
each run is named by what it is (`run_name`). Each experiment carries a saved view of its runs
table with the R@K columns shown (`RUNS_VIEW_TAG`), which `tie ui`'s links open.

A local store that another process is writing to (a parallel run, a script) is waited
for (SQLite's busy timeout, `BUSY_TIMEOUT_S`, on every connection), then the stage fails
with the root cause in one line (`database is locked`, `attempt to write a readonly
database`) and advice that fits a local store. Credentials in the URI are never shown
(`tie.redact`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import hashlib
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from tie.config.params import flatten
from tie.config.registry import TEXT_ENCODERS
from tie.errors import TieError
from tie.progress import progress
from tie.redact import redact

# MLflow's settings while this project talks to a store (`mlflow_settings`), each unless the
# environment sets it: no usage telemetry (this pipeline talks to its own tracking store
# only; MLFLOW_DISABLE_TELEMETRY=false allows it), and a failing server given up within
# seconds instead of minutes of retries.
MLFLOW_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    # Logging a run's model copies a few small files; MLflow's bars for them would fill the
    # stage's output with "Downloading artifacts" lines.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
BUSY_TIMEOUT_S = 20.0  # as MLflow's own sessions wait
CREATION_TIMEOUT_S = 300.0  # at most, while another process makes a new store: not counted in
# BUSY_TIMEOUT_S (create_local_store; MLflow's migrations take seconds to a minute)
DEADLINE_S = 120.0  # all the requests of one logging to a server; TIE_MLFLOW_DEADLINE_S
CLEANUP_S = 5.0  # each request after the deadline (ending the run): then it is cut too


class _DeadlinePassed(BaseException):
    """Raised by the alarm inside a blocked request; a BaseException, so that no retry
    loop of MLflow's or urllib3's (`except Exception`) swallows it."""


@contextlib.contextmanager
def _deadline(seconds: float):
    """Interrupt what the main thread waits for after `seconds` (then every CLEANUP_S).

    A no-op outside the main thread, where no signal can be delivered.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def passed(_signum, _frame):
        signal.setitimer(signal.ITIMER_REAL, CLEANUP_S)
        raise _DeadlinePassed

    previous = signal.signal(signal.SIGALRM, passed)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def mlflow_settings():
    """This project's MLflow settings while the block talks to a store, then put back as
    they were: the environment (`MLFLOW_DEFAULTS`), SQLite's busy wait on every new
    connection (`_wait_when_busy`), MLflow's database logger quietened (it logs a whole
    traceback before raising the error that `failure_message` says in one line).

    Importing this module changes nothing of the process.
    """
    import sqlalchemy

    saved = {name: os.environ.get(name) for name in MLFLOW_DEFAULTS}
    for name, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    listening = sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _wait_when_busy)
    if not listening:
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _wait_when_busy)
    db_logger = logging.getLogger("mlflow.store.db.utils")
    level = db_logger.level
    db_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        db_logger.setLevel(level)
        if not listening:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", _wait_when_busy)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def repo_root() -> Path:
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def default_tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


# The schemes MLflow's tracking stores take (a path without a scheme is a file store).
STORE_SCHEMES = (
    "", "file", "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks",
    "databricks-uc", "uc",
)  # fmt: skip


def tracking_uri(root: Path | None = None) -> str:
    """The store: MLFLOW_TRACKING_URI, or the project's `sqlite:///<root>/mlflow.db`; an
    unknown scheme (a typo: `htp://`) is refused, naming it."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return default_tracking_uri(root or repo_root())
    scheme = uri.partition(":")[0].partition("+")[0].lower() if "://" in uri else ""
    if scheme not in STORE_SCHEMES:
        raise TieError(
            redact(
                f"MLFLOW_TRACKING_URI {uri}: unknown scheme {scheme!r}; use http(s)://<host>:"
                "<port> for a tracking server, sqlite:///<path>/mlflow.db for a local store, or"
                " unset it for the project's own store"
            )
        )
    return uri


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


FINGERPRINT_TAG = "tie.fingerprint"
# MLflow 3's experiment kind, read by its UI: this value opens the experiment on its runs.
EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"
PID_TAG, HOST_TAG = "tie.pid", "tie.host"


def fingerprint(entry: dict) -> str:
    """A hash of what an evaluation's numbers come from: the evaluate stage's lock entry.

    `entry` is what DVC records for the run (`tie.config.lock.running_entry`): its command,
    every dep it declares with its content hash, the params it declares. Any change DVC
    re-runs the stage for is another fingerprint, so another MLflow run; nothing else is.
    """
    return hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()


def _process_is_gone(tags: dict) -> bool:
    """Whether the process that started a run (tags PID_TAG, HOST_TAG) no longer exists here."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False  # another machine's run, or not this pipeline's: left alone
    try:
        os.kill(int(tags[PID_TAG]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def _fail_abandoned_runs(client) -> list[str]:
    """Mark FAILED the RUNNING runs of this pipeline whose process is gone; their ids."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'")
    abandoned = [r.info.run_id for r in running if _process_is_gone(r.data.tags)]
    for run_id in abandoned:
        client.set_terminated(run_id, status="FAILED")
    return abandoned


def _experiment_id(mlflow, name: str, root: Path, default_store: bool) -> str:
    """The experiment `name`, created if new, tagged as model development either way."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = (root / "mlartifacts" / name).as_uri() if default_store else None
        try:
            return mlflow.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT}
            )
        except mlflow.exceptions.MlflowException:
            # Another queued run created it first.
            experiment = mlflow.get_experiment_by_name(name)
    _tag_kind(mlflow.MlflowClient(), experiment)
    return experiment.experiment_id


def relocate_artifacts(root: Path) -> None:
    """Point the project's own store at the project's own artifact folder, wherever the
    project now is: MLflow records absolute artifact locations (`file:///old/mlartifacts/..`),
    so a project moved or copied would log its new runs into the old folder, outside it.
    Every location of the form `<anywhere>/mlartifacts/<rest>` becomes
    `<root>/mlartifacts/<rest>` (the folder moved with the project); nothing is written
    where every location is the project's already."""
    store = root / "mlflow.db"
    if not store.is_file():
        return
    prefix = (root / "mlartifacts").as_uri() + "/"
    marker = "/mlartifacts/"
    with contextlib.closing(sqlite3.connect(store, timeout=BUSY_TIMEOUT_S)) as db, db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            if table not in tables:
                continue
            outside = (
                f"FROM {table} WHERE {column} LIKE 'file://%' AND instr({column}, ?) > 0"
                f" AND substr({column}, 1, ?) != ?"
            )
            where = (marker, len(prefix), prefix)
            if db.execute(f"SELECT 1 {outside} LIMIT 1", where).fetchone() is None:
                continue
            db.execute(
                f"UPDATE {table} SET {column} = ? || substr({column}, instr({column}, ?) + ?)"
                f" WHERE {column} IN (SELECT {column} {outside})",
                (prefix, marker, len(marker), *where),
            )


def _tag_kind(client, experiment) -> None:
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # created before the tag was set
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT)


# The runs table's view with the recall columns shown: MLflow's UI shows no metric column until
# one is ticked under Columns, but opens a view saved in an experiment tag
# `mlflow.sharedViewState.<key>` (what its Share button saves) when the page's URL has
# `viewStateShareKey=<key>`; `tie ui` links to it (tie.results.ui.RUNS_PAGE).
RUNS_VIEW_KEY = "tie-recall"
RUNS_VIEW_TAG = f"mlflow.sharedViewState.{RUNS_VIEW_KEY}"
_RECALL = re.compile(r"(image_search|image_annotation)/R_at_(\d+)")


def runs_view(metric_keys) -> str:
    """The view (JSON) whose columns are the R@K of both directions among `metric_keys`
    (K ascending, image search first) and rsum: e.g. `metrics.`image_search/R_at_1``."""
    found = [m for key in metric_keys if (m := _RECALL.fullmatch(key))]
    found.sort(key=lambda m: (m.group(1) != "image_search", int(m.group(2))))
    keys = [m.group(0) for m in found] + (["rsum"] if "rsum" in metric_keys else [])
    columns = [f"metrics.`{key}`" for key in keys]
    return json.dumps({"selectedColumns": columns, "columnOrder": columns})


def _tag_runs_view(client, experiment, metric_keys) -> None:
    view = runs_view(metric_keys)
    if experiment.tags.get(RUNS_VIEW_TAG) != view and json.loads(view)["selectedColumns"]:
        client.set_experiment_tag(experiment.experiment_id, RUNS_VIEW_TAG, view)


def tag_experiments(uri: str) -> dict[str, str]:
    """Tag as model development the store's experiments that have no kind (made before), and
    give those without it the recall view (`runs_view`) of their latest run's metrics.

    Returns {name: id} of the store's experiments, but MLflow's empty "Default".
    """
    with mlflow_settings():
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=uri)
        experiments = client.search_experiments()
        for experiment in experiments:
            _tag_kind(client, experiment)
            if RUNS_VIEW_TAG not in experiment.tags:
                latest = client.search_runs([experiment.experiment_id], max_results=1)
                if latest:
                    _tag_runs_view(client, experiment, latest[0].data.metrics)
        return {
            e.name: e.experiment_id
            for e in experiments
            if e.experiment_id != "0" or client.search_runs(["0"], max_results=1)
        }


def run_name(recorded: dict) -> str:
    """What a run is: the DVC experiment's name, else `<dataset> <image>+<text> <pooling>`.

    Pooling is named for word vectors only (a sentence encoder embeds whole captions), the
    mixture with it for Fisher vectors: e.g. `demo colorgrid+glove mean`,
    `flickr8k vgg19+word2vec fisher-hglmm`, `flickr8k clip+clip`.
    """
    if os.environ.get("DVC_EXP_NAME"):
        return os.environ["DVC_EXP_NAME"]
    recorded = flatten(recorded)  # nested or already flat (`section.key`), read alike
    text = recorded.get("text")
    name = f"{recorded.get('dataset')} {recorded.get('image')}+{text}"
    if text in TEXT_ENCODERS and TEXT_ENCODERS[text].kind == "sentence":
        return name
    pooling = recorded.get("caption_vectors.pooling", "mean")
    if pooling == "fisher":
        pooling = f"fisher-{recorded.get('fisher.mixture')}"
    return f"{name} {pooling}"


def sqlite_store_path(uri: str) -> Path:
    """The database file of a `sqlite:///` URI, also in SQLite's URI form
    (`sqlite:///file:/path/mlflow.db?mode=ro&uri=true`)."""
    path = uri.removeprefix("sqlite:///")
    if path.startswith("file:"):
        path = path.removeprefix("file:").partition("?")[0]
    return Path(path)


@contextlib.contextmanager
def _local_store_lock(uri: str):
    """One process at a time logs to a local SQLite store (none for a server).

    MLflow creates a new store's tables by an Alembic migration, which two processes
    starting together (two `dvc exp run`, two pipelines) run twice and one of them fails
    on; logging is short, so pipelines take turns on a lock file beside the store, waiting
    at most BUSY_TIMEOUT_S (plus the time another process takes to make a new store, up to
    CREATION_TIMEOUT_S in all). The holder makes a store that does not exist yet
    (`create_local_store`).
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    store = sqlite_store_path(uri)
    if not store.parent.is_dir():  # a typo in MLFLOW_TRACKING_URI: not a folder to create
        raise TieError(
            redact(
                f"MLFLOW_TRACKING_URI {uri}: the folder {store.parent} does not exist; create it"
                " if the store belongs there, or fix the URI"
            )
        )
    with open(store.with_name(store.name + ".lock"), "a") as lock:
        start = since = time.monotonic()
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if any(store.parent.glob(_making_pattern(store))):
                    since = now  # the store is being made: its creation is not counted
                if now - since > BUSY_TIMEOUT_S or now - start > CREATION_TIMEOUT_S:
                    raise TieError(
                        f"another process has been logging to {store} for over"
                        f" {BUSY_TIMEOUT_S:g} s: let it finish, then re-run `dvc repro`"
                    ) from None
                time.sleep(0.1)
        try:
            create_local_store(store)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_local_store(store: Path) -> None:
    """Make a new local store whole or not at all (nothing to do if `store` exists).

    MLflow creates a store's tables by dozens of migrations, each committed on its own: a
    full disk or a kill in between leaves a half-made store that every later run fails on
    (`table ... already exists`). The store is made in a file beside it, under a name of its
    own, and renamed to `store` once complete; a failure removes that file.
    Called with the store's lock held (`_local_store_lock`).
    """
    if store.exists():
        return
    import mlflow

    for stale in store.parent.glob(_making_pattern(store)):  # of a killed process
        stale.unlink(missing_ok=True)
    making = store.with_name(f"{store.name}.making-{os.getpid()}")
    partial = [making, *(making.with_name(making.name + end) for end in STORE_SIDE_FILES)]
    try:
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{making}")
        client.search_experiments()  # made and migrated by MLflow's store
        client._tracking_client.store.engine.dispose()  # every connection closed, so the
        # file is complete (no journal) when it is renamed
        os.replace(making, store)
    finally:
        for path in partial:
            path.unlink(missing_ok=True)


def _making_pattern(store: Path) -> str:
    return f"{glob.escape(store.name)}.making-*"


STORE_SIDE_FILES = ("-journal", "-wal", "-shm")  # SQLite's files beside a database


def _wait_when_busy(dbapi_connection, _record) -> None:
    """SQLAlchemy `connect` hook: a SQLite connection waits for another writer's lock."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception of the chain (e.g. the sqlite3 error under MLflow's)."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


def failure_message(error: BaseException, uri: str) -> str:
    """One line: the store (credentials removed), the root cause, what to do."""
    cause = str(_root_cause(error)).strip() or type(_root_cause(error)).__name__
    cause = cause.splitlines()[0]
    if uri.startswith("sqlite:"):
        if "locked" in cause:
            advice = (
                f"Another process holds a write transaction on this local store (waited "
                f"{BUSY_TIMEOUT_S:g} s): let it finish (a parallel run, a script writing to "
                "it), then re-run `dvc repro`; `mlflow ui` only reads it"
            )
        elif "disk is full" in cause or "No space left" in cause:
            advice = (
                "The disk that holds this local store is full: free some space there (keep"
                " the store: it holds every earlier run), then re-run `dvc repro`"
            )
        elif "already exists" in cause:
            advice = (
                "The store's tables are half made (its creation was cut short by an earlier"
                " version of this project, e.g. on a full disk): move it away to start a new"
                " one, then re-run `dvc repro`"
            )
        elif "readonly" in cause or "read-only" in cause:
            advice = (
                "This local store cannot be written: make the database file and its folder "
                "writable by you (or unset MLFLOW_TRACKING_URI to use the default "
                "<repo>/mlflow.db), then re-run `dvc repro`"
            )
        else:
            advice = "Check the local store file (move it away to start a new one), then re-run"
    else:
        advice = (
            "Start the tracking server (or unset MLFLOW_TRACKING_URI to use the local store), "
            "then re-run `dvc repro`"
        )
    return redact(
        f"could not log the run to MLflow at {uri}: {cause}. The metrics file is written only "
        f"once the run is logged. {advice}."
    )


@contextlib.contextmanager
def reading_store(uri: str):
    """Read the MLflow store `uri` inside this: one it cannot read (a damaged or foreign
    database file, a server that does not answer) is one line naming it and what to do."""
    import mlflow
    import requests
    import sqlalchemy

    db_logger = logging.getLogger("mlflow.store.db.utils")
    level = db_logger.level
    db_logger.setLevel(logging.CRITICAL)  # MLflow logs a database error's whole traceback
    try:
        yield
    except (
        mlflow.exceptions.MlflowException,
        requests.RequestException,
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
    ) as error:
        cause = str(_root_cause(error)).strip() or type(_root_cause(error)).__name__
        if uri.startswith("sqlite:"):
            advice = (
                f"if {sqlite_store_path(uri)} is damaged, move it away (a new store starts"
                " empty; re-run `dvc repro` to log again)"
            )
        else:
            advice = "start the tracking server, or unset MLFLOW_TRACKING_URI for the local store"
        raise TieError(
            redact(f"could not read the MLflow store {uri}: {cause.splitlines()[0]}; {advice}")
        ) from None
    finally:
        db_logger.setLevel(level)


def _store_named_on_failure(log):
    """A failure to reach the tracking store becomes one clear error that names it."""

    @functools.wraps(log)
    def wrapper(*args, **kwargs):
        with mlflow_settings():
            return _named_on_failure(log, *args, **kwargs)

    return wrapper


def _named_on_failure(log, *args, **kwargs):
    """`log(*args, **kwargs)`; a failure to reach the store is one error naming it."""
    import mlflow
    import requests
    import sqlalchemy

    uri = tracking_uri()
    deadline = float(os.environ.get("TIE_MLFLOW_DEADLINE_S", DEADLINE_S))
    remote = uri.startswith(("http:", "https:"))
    try:
        with _deadline(deadline) if remote else contextlib.nullcontext():
            return log(*args, **kwargs)
    except _DeadlinePassed:
        raise TieError(
            redact(
                f"could not log the run to MLflow at {uri}: no complete answer within"
                f" {deadline:g} s (TIE_MLFLOW_DEADLINE_S, all requests together). The"
                " metrics file is written only once the run is logged. Check the server"
                " (or unset MLFLOW_TRACKING_URI to use the local store), then re-run"
                " `dvc repro`."
            )
        ) from None
    except (
        mlflow.exceptions.MlflowException,
        requests.RequestException,
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,  # the store's artifact locations, rebased (relocate_artifacts)
    ) as error:
        raise TieError(failure_message(error, tracking_uri())) from error


@_store_named_on_failure
def log_evaluation(
    dataset: str,
    params: dict,
    metrics: dict,
    artifacts: list[Path],
    extra_metrics: dict[str, float] | None = None,
    result_fingerprint: str | None = None,
    in_run=None,
) -> tuple[str, bool]:
    """Log one evaluation as an MLflow run: (run id, whether a new run was logged).

    With `result_fingerprint` (see `fingerprint`), a finished run that has it already is
    returned instead of logging a duplicate. Before logging, runs left RUNNING by a
    killed process are marked FAILED. `in_run`, if given, is a callable or a list of
    callables, each called inside a run being logged, after its artifacts (the datasets
    and the joint model: `tie.evaluation.evaluate`), never for a duplicate. Each step
    (opening the store, the duplicate check, params, metrics, each artifact, each of
    `in_run`) counts on a `tie.progress` counter: lines in a log file while a slow store
    or a large corpus makes the logging take minutes.
    """
    import mlflow

    root = repo_root()
    uri = tracking_uri(root)
    with _local_store_lock(uri):
        return _log(
            mlflow,
            root,
            uri,
            dataset,
            params,
            metrics,
            artifacts,
            extra_metrics,
            result_fingerprint,
            in_run,
        )


def _log(
    mlflow,
    root,
    uri,
    dataset,
    params,
    metrics,
    artifacts,
    extra_metrics,
    result_fingerprint,
    in_run=None,
):
    """`log_evaluation`'s work, once the store is this process's."""
    in_run = [] if in_run is None else in_run if isinstance(in_run, list | tuple) else [in_run]
    steps = 4 + len(artifacts) + len(in_run)
    with progress(total=steps, desc="MLflow run", unit="step") as bar:
        if uri == default_tracking_uri(root):
            relocate_artifacts(root)
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment_id = _experiment_id(mlflow, dataset, root, uri == default_tracking_uri(root))
        _fail_abandoned_runs(client)
        logged = metric_names(metrics) | (extra_metrics or {})
        _tag_runs_view(client, client.get_experiment(experiment_id), logged)
        bar.update()
        if result_fingerprint:
            query = f"tags.`{FINGERPRINT_TAG}` = '{result_fingerprint}'"
            finished = f"{query} and attributes.status = 'FINISHED'"
            same = client.search_runs([experiment_id], finished)
            if same:
                return same[0].info.run_id, False
        bar.update()
        exp_name = os.environ.get("DVC_EXP_NAME")
        revision = git_revision(Path.cwd())
        tags = {
            "dvc.experiment": exp_name or "workspace",
            "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
            "git.revision": revision,
            "mlflow.source.git.commit": revision,
            FINGERPRINT_TAG: result_fingerprint or "",
            PID_TAG: str(os.getpid()),
            HOST_TAG: socket.gethostname(),
        }
        name = run_name(params)
        with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
            mlflow.log_params(flatten(params))
            bar.update()
            mlflow.log_metrics(logged)
            bar.update()
            for path in artifacts:
                mlflow.log_artifact(str(path))
                bar.update()
            for step in in_run:
                step()
                bar.update()
    return run.info.run_id, True
