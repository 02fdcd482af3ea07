"""What users run on results: the `tie` CLI (`cli`), provenance of a workspace, reports
against published rows (`report_table`, `baselines`), paired comparisons (`significance`),
search (`search`) and the MLflow UI (`ui`)."""
