"""Feature files: dense rows with their ids, checked against dvc.lock (`store`); Fisher
vectors stored as word codes and expanded when read (`fisher_rows`); the stored precision
of saved models (`precision`)."""
