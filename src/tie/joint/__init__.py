"""The joint space: CCA (`cca`), the spaces a model maps into (`space`: CCA or the
zero-shot identity), choosing CCA params on val (`model_selection`, `fit`) and the Ray
version of the covariance pass (`ray`)."""
