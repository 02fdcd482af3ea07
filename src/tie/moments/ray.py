"""The moments of the train pairs on Ray: chunk moments on the workers, merged in order on
the driver (`tie.moments.merge`)."""

from __future__ import annotations

from collections import deque

import numpy as np
import ray

from tie.config.schema import Compute
from tie.moments.merge import Moments, chunk_moments, combine_moments, image_chunks
from tie.moments.stream import Covariances, chunk_bytes


@ray.remote
def _chunk_moments(x, y, local_index) -> Moments:
    return chunk_moments(x, y, local_index)


def covariances_on_ray(X, Y, image_index, compute: Compute, chunk_rows=None) -> Covariances:
    """`tie.moments.stream.covariances(X, Y, image_index)`, the chunks' moments on Ray.

    The driver reads one chunk of rows at a time (X and Y may be row sources such as
    `tie.features.store.FeatureRows`; a chunk is about `chunk_bytes()` of float64 rows of both
    sides together), sends it to a task, and merges the returned moments in chunk order,
    in place into one set of buffers, so the result does not depend on which worker
    finishes first. At most twice as many chunks as the cluster has CPUs are in flight, so
    the driver's memory stays bounded.
    """
    dx, dy = X.shape[1], Y.shape[1]
    if chunk_rows is None:  # rows of X per task, with (on average) len(Y) / len(X) captions each
        row_bytes = 8 * (dx + len(Y) / max(1, len(X)) * dy)
        chunk_rows = max(1, int(chunk_bytes() // row_bytes))
    task = _chunk_moments.options(num_cpus=compute.num_cpus)
    in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: deque = deque()
    total = Moments.empty(dx, dy)
    for rows, caption_positions, local_index in image_chunks(len(X), image_index, chunk_rows):
        x = np.asarray(X[rows])
        y = np.asarray(Y[caption_positions])
        pending.append(task.remote(x, y, local_index))
        if len(pending) >= in_flight:
            combine_moments(total, ray.get(pending.popleft()))
    while pending:
        combine_moments(total, ray.get(pending.popleft()))
    return total.covariances()
