"""Scoring a joint space (its ranks and recall: `tie.joint.retrieval`), hubness-aware scoring
(`scoring`), bootstrap intervals (`bootstrap`), per-query ranks (`query_ranks`), fold protocols
(`folds`), the split's embeddings (`embeddings`), the plots (`report`, `gallery`) and MLflow
(`tracking`)."""
