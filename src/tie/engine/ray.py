"""The heavy steps on a Ray cluster (`compute.engine: ray`): encoding and CCA statistics.

Imported only when that engine is chosen (`tie.engine.engine`), so the local default never loads
Ray. `ray_session` connects; `tie.image.ray` (images), `tie.text.ray` (captions)
and `tie.moments.ray` do the work.

What runs where:

- the driver (the stage's process) lists the work, keeps the shards and the resume state,
  combines partial results and writes every output file, exactly as the local engine does;
- image encoding is a Ray Data `map_batches` over the pending shards, with a callable class:
  each actor builds its encoder once and encodes whole shards (one Ray task per shard), so a
  shard's features depend on its images only and a task retried after a worker failure
  gives the same bytes; the driver writes each shard as it arrives (an interrupted run
  resumes from them, as locally);
- caption encoding (sentence encoders, Fisher vectors) is a `map_batches` over chunks of
  whole batches of captions, the same pattern; the driver writes each chunk's rows into
  the memory-mapped feature file as they arrive;
- the CCA statistics are Ray tasks over chunks of rows, each returning the chunk's moments
  (count, means, centred co-moments); the driver merges them in chunk order with the
  pairwise update of Chan, Golub and LeVeque (`tie.moments.merge.combine_moments`), so the result
  equals the local single pass to rounding; the factorisations stay on the driver.

Workers get the driver's own `tie` package (a Ray runtime env), so the code that runs is
the code of this checkout; inputs travel through Ray's object store, except images, which
the workers read from the paths the driver gives (a filesystem every node mounts).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import ray
import ray.data

import tie
from tie.config.schema import Compute
from tie.errors import TieError

# How long the cluster may take to offer one encoder actor's CPUs and GPUs (an autoscaler
# adding a node takes a minute or two); then the stage fails instead of waiting forever.
RESOURCE_WAIT_S = 180.0  # TIE_RAY_RESOURCE_WAIT_S overrides it


@contextmanager
def ray_session(compute: Compute):
    """Connect to the cluster of `compute.address` (or start a local Ray) for a block.

    An empty address starts a Ray instance on this machine for the block's duration;
    `auto` joins the cluster this machine is part of (`ray start`); `ray://host:10001`
    reaches a remote one through Ray Client. A cluster that cannot be reached, or that
    refuses this process's token (Ray logs `InvalidAuthToken`, then gives up), is a
    one-line TieError saying where the token comes from.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry leaves the machine
    address = compute.address or None
    try:
        ray.init(
            address=address,
            runtime_env={"py_modules": [str(Path(tie.__file__).parent)]},
            include_dashboard=False,
            logging_level="warning",
            configure_logging=True,
        )
    except ConnectionError as error:
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise TieError(
            f"could not reach the Ray cluster at compute.address {address!r}: {cause}; start"
            ' it (`ray start --head`) or set compute.address to "" to start Ray here. If Ray'
            " logged InvalidAuthToken, the cluster refused this machine's token: set"
            " RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, a file; by"
            " default ~/.ray/auth_token) to the cluster's token, which `ray get-auth-token`"
            " prints on its head node"
        ) from None
    try:
        wait_for_actor_resources(compute)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        yield
    finally:
        ray.shutdown()


def wait_for_actor_resources(compute: Compute) -> None:
    """Wait (at most `TIE_RAY_RESOURCE_WAIT_S`) for a node that can hold one encoder actor.

    Ray would otherwise queue an actor no node can hold forever (its autoscaler only warns),
    e.g. `compute.num_gpus: 1` on a cluster without GPUs.
    """
    need = {"CPU": compute.num_cpus, "GPU": compute.num_gpus}
    wait = float(os.environ.get("TIE_RAY_RESOURCE_WAIT_S", RESOURCE_WAIT_S))
    deadline = time.monotonic() + wait
    while True:
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        if any(all(node.get(k, 0) >= n for k, n in need.items() if n) for node in nodes):
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    largest = {k: max((node.get(k, 0) for node in nodes), default=0) for k in need}
    raise TieError(
        f"no node of the Ray cluster can hold one encoder actor (compute.num_cpus ="
        f" {need['CPU']:g}, compute.num_gpus = {need['GPU']:g}; the largest node has"
        f" {largest['CPU']:g} CPUs, {largest['GPU']:g} GPUs) after waiting {wait:g} s"
        " (TIE_RAY_RESOURCE_WAIT_S): lower them in params.yaml or add such a node"
    )


def actor_options(compute: Compute) -> dict:
    """`map_batches` options for the encoder actors: `compute.concurrency` actors of
    `compute.num_cpus` CPUs and `compute.num_gpus` GPUs each."""
    return {
        "compute": ray.data.ActorPoolStrategy(size=compute.concurrency),
        "num_cpus": compute.num_cpus,
        "num_gpus": compute.num_gpus,
    }
