"""Image encoding on Ray: a `map_batches` over shards, one actor per encoder instance."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import ray

from tie.config.schema import Compute
from tie.engine.ray import actor_options
from tie.image.extract import encode_shard


class _ShardEncoder:
    """A Ray Data actor: builds its encoder once, then encodes one shard per call."""

    def __init__(self, build_encoder: Callable, shard_size: int):
        self.encoder = build_encoder()
        self.shard_size = shard_size

    def __call__(self, batch: dict) -> dict:
        shards, sources = batch["shard"], batch["sources"]
        features = np.zeros((len(shards), self.shard_size, self.encoder.dim), dtype=np.float32)
        readable = np.zeros((len(shards), self.shard_size), dtype=bool)
        for row, shard_sources in enumerate(sources):
            paths = pickle.loads(shard_sources)
            n = len(paths)
            features[row, :n], readable[row, :n] = encode_shard(self.encoder, paths)
        return {"shard": shards, "features": features, "readable": readable}


def shard_encoder(build_encoder: Callable, compute: Compute) -> Callable:
    """The `encode_shards` of `tie.image.extract.extract_features`, on the cluster.

    `build_encoder` (picklable, e.g. a `functools.partial`) is called once per actor.
    """
    return partial(encode_shards, build_encoder, compute)


def encode_shards(
    build_encoder: Callable, compute: Compute, shards: list[tuple[int, list[Path]]], shard_size: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Encode `shards` on the cluster; yield `(k, features, unreadable)` as each one is done.

    `unreadable` holds positions within the shard. Shards come in completion order.
    """
    # Absolute paths: a worker's current directory is not the driver's. Pickled: a source
    # is a file path or a member of a tar shard (tie.raw.webdataset.TarMember).
    items = [
        {"shard": k, "sources": pickle.dumps([_absolute(p) for p in paths])} for k, paths in shards
    ]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _ShardEncoder,
        fn_constructor_args=(build_encoder, shard_size),
        batch_size=1,
        **actor_options(compute),
    )
    sizes = {k: len(paths) for k, paths in shards}
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for k, features, readable in zip(
            batch["shard"], batch["features"], batch["readable"], strict=True
        ):
            n = sizes[int(k)]
            yield int(k), features[:n], np.flatnonzero(~readable[:n])


def _absolute(source):
    return source.resolve() if isinstance(source, Path) else source
