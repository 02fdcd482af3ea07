"""CLIP and SigLIP models shared by their image and text towers: the models and presets
(`models`, light) and loading a KerasHub backbone (`load`, imports TensorFlow)."""
