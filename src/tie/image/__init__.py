"""Image features: encoders by name (`encoders`: colorgrid, keras.applications CNNs, the
vision towers of CLIP / SigLIP), decoding (`decode`), resumable sharded extraction
(`extract`) and its Ray version (`ray`)."""
