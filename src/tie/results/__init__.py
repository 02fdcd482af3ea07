"""What users run on results: the `tie` CLI (`cli`), provenance of a workspace, reports
against published rows (`comparison`, `baselines`), paired comparisons (`compare`),
search (`search`) and the MLflow UI (`ui`)."""
