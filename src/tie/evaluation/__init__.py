"""Scoring a joint space: ranks and recall (`retrieval`), hubness-aware scoring (`scoring`),
bootstrap intervals (`bootstrap`), per-query ranks (`query_ranks`), fold protocols (`folds`),
the split's embeddings (`embeddings`), the plots (`report`, `gallery`) and MLflow
(`tracking`)."""
