"""The public names of the retrieval protocol (they live in `tie.joint.retrieval`)."""

from tie.joint.retrieval import metrics_from_ranks, ranks, score

__all__ = ["metrics_from_ranks", "ranks", "score"]
