"""Joint text-image embeddings by CCA."""
