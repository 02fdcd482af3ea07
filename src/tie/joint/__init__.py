"""The joint space: CCA (`cca`), the spaces a model maps into (`space`: CCA or the
zero-shot identity), ranks and recall in it (`retrieval`: a leaf, used by model selection
and by `evaluation`), choosing CCA params on val (`model_selection`, `fit`) and the Ray
version of the covariance pass (`ray`)."""
