"""Caption features: word vectors (`encoders`, `glove`, `pretrained`, `word2vec_local`),
tokenizing, pooling by mean or Fisher vectors (`captions`, `fisher_vectors`, `mixtures`),
the text towers of CLIP / SigLIP (`tower`, `sentence`) and the Ray version (`ray`)."""
