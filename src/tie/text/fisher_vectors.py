"""Fisher vectors of captions: the gradient of the mean log-likelihood of a caption's words.

For a caption with words x_1..x_T and a fitted diagonal mixture (`tie.text.mixtures`), the
Fisher vector (FV) holds, for every component k and dimension d, the derivative of
(1/T) sum_t log p(x_t) with respect to the location mu_kd and to the scale, each multiplied
by the inverse square root of its closed-form Fisher information (Perronnin, Sanchez,
Mensink 2010 for the Gaussian; Klein et al. 2015 for the Laplacian):

- Gaussian dimension:  G_mu = 1/(T sqrt(w_k))  sum_t g_tk (x_td - mu_kd) / sigma_kd
                       G_sigma = 1/(T sqrt(2 w_k)) sum_t g_tk ((x_td - mu_kd)^2 / sigma_kd^2 - 1)
  (Fisher information per word w_k / sigma^2 and 2 w_k / sigma^2);
- Laplacian dimension: G_mu = 1/(T sqrt(w_k))  sum_t g_tk sign(x_td - mu_kd)
                       G_s = 1/(T sqrt(w_k))  sum_t g_tk (|x_td - mu_kd| / s_kd - 1)
  (Fisher information per word w_k / s^2 for both: |x - mu| is exponential with mean s),

g_tk being the posterior of component k for word t. The FV has 2 K D entries: the K x D
location gradients, then the K x D scale gradients. It is then improved (optionally) by
a signed square root and L2 normalisation.

Every term depends on one word only, so the FV of a caption is the mean over its words
of per-word codes (`word_codes`): the codes are computed once per vocabulary word, and a
batch of captions is a sparse (captions x words) matrix times them. A caption with no
known word is the zero vector.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse

from tie.config.registry import FISHER_MIXTURES, FISHER_REDUCTIONS
from tie.features.fisher_rows import expand
from tie.features.precision import stored_precision
from tie.features.rows import unit_rows
from tie.recorded import check_recorded, reading
from tie.text.mixtures import MIXTURES

MIXTURE_CHOICES = FISHER_MIXTURES
ARRAYS_FILE = "fisher.npz"
PARAMS_FILE = "fisher.json"
_MIXTURE_ARRAYS = ("weights_", "means_", "scales_", "gaussian_")
REDUCTIONS = FISHER_REDUCTIONS
# `fisher.fit_on` choices that fit on the train captions' words (the other,
# pretrained_sample, on a sample of a pretrained table: tie.text.vocabulary_sample).
TRAIN_FIT_ON = ("train_words", "train_tokens")
# Vocabulary words whose codes are computed at once (bounds the float64 temporaries).
_CODE_CHUNK_WORDS = 2048
# Posteriors at most this are left out of the codes (see `word_codes`).
MIN_POSTERIOR = 1e-10


def word_codes(mixture, X, min_posterior: float = 0.0) -> scipy.sparse.csr_matrix:
    """Per-word FV terms, sparse (n_words, 2 * K * D): the FV of a caption is their mean.

    Parameters
    ----------
    mixture : GMM, LMM or HGLMM
        A fitted mixture.
    X : array-like of shape (n_words, D)
        Word vectors, already preprocessed as the mixture's fitting data were.
    min_posterior : float
        Terms of a component whose posterior for the word is at most this are left out
        (0: every term). In a few hundred dimensions a word's posterior is close to one
        for one or two components and below 1e-10 for the others, whose terms are then
        far below float32 resolution: leaving them out makes the codes 10-30x sparser.
    """
    X = np.asarray(X, dtype=np.float64)
    n_words, dim = X.shape
    n_components = len(mixture.weights_)
    resp = mixture.predict_proba(X)
    words, components = (
        np.nonzero(resp > min_posterior)
        if min_posterior > 0
        else np.nonzero(np.ones_like(resp, dtype=bool))
    )
    z = (X[words] - mixture.means_[components]) / mixture.scales_[components]  # (pairs, D)
    gaussian = mixture.gaussian_[components]
    location = np.where(gaussian, z, np.sign(z))
    spread = np.where(gaussian, (z * z - 1) / np.sqrt(2.0), np.abs(z) - 1)
    factor = resp[words, components] / np.sqrt(mixture.weights_[components])
    location *= factor[:, None]
    spread *= factor[:, None]
    # Row of word t: for each of its components k, the D location entries at k*D.. and
    # the D scale entries at K*D + k*D.. (pairs come word by word).
    columns = components[:, None] * dim + np.arange(dim)
    indices = np.concatenate([columns, columns + n_components * dim], axis=1).ravel()
    data = np.concatenate([location, spread], axis=1).ravel()
    indptr = np.concatenate([[0], np.cumsum(np.bincount(words, minlength=n_words) * 2 * dim)])
    shape = (n_words, 2 * n_components * dim)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)


def caption_matrix(token_rows: Sequence[Sequence[int]], n_words: int) -> scipy.sparse.csr_matrix:
    """Sparse (captions x words) matrix of each caption's word frequencies (rows sum to 1).

    A word that occurs twice counts twice; a caption with no known word is an empty row.
    """
    lengths = np.fromiter((len(rows) for rows in token_rows), dtype=np.int64, count=len(token_rows))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    flat = (r for rows in token_rows for r in rows)
    indices = np.fromiter(flat, dtype=np.int64, count=indptr[-1])
    data = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    matrix = scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(token_rows), n_words))
    matrix.sum_duplicates()
    return matrix


class FisherVectors:
    """Caption encoder: Fisher vectors of word vectors under one or two fitted mixtures.

    Word vectors are L2-normalised, then optionally reduced by PCA or ICA to
    `reduced_dim` (at most their dimension), as Klein et al.; the reduction and the
    mixture are fitted on the same sample of word vectors.

    Parameters
    ----------
    mixture : {"gmm", "lmm", "hglmm", "gmm+hglmm"}
        The mixture model; "gmm+hglmm" concatenates the FVs of both (4 K D entries).
    n_components : int
        Components K of each mixture.
    reduce : {"none", "pca", "ica"}
        Reduction of the normalised word vectors before the mixture.
    reduced_dim : int
        Dimension after the reduction, capped at the word-vector dimension.
    max_iter, tol, seed
        EM settings of the mixtures (`tie.text.mixtures.GMM`); `seed` seeds the ICA too.
    normalize : bool
        Apply the signed square root and L2 normalisation to each caption's FV part.

    Attributes
    ----------
    mixtures_ : list of fitted GMM / LMM / HGLMM
    center_, projection_ : ndarray of shape (n_features,), (n_features, dim_), or None
        The fitted reduction as an affine map, x -> (x - center_) @ projection_ (what
        PCA and FastICA's `transform` compute); None without reduction.
    dim_ : int
        Dimension of the word vectors the mixtures model.

    Examples
    --------
    >>> import numpy as np
    >>> from tie.text.fisher_vectors import FisherVectors
    >>> words = np.random.default_rng(0).normal(size=(300, 8))
    >>> fv = FisherVectors(mixture="gmm", n_components=2, seed=0).fit(words)
    >>> fv.encode([[0, 1, 2], []], words).shape  # a caption of 3 words, one with none
    (2, 32)
    """

    def __init__(
        self,
        *,
        mixture="hglmm",
        n_components=30,
        reduce="none",
        reduced_dim=300,
        max_iter=100,
        tol=1e-5,
        seed=0,
        normalize=True,
    ):
        self.mixture = mixture
        self.n_components = n_components
        self.reduce = reduce
        self.reduced_dim = reduced_dim
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.normalize = normalize

    def fit(self, word_vectors):
        """Fit the reduction and the mixture(s) on these word vectors (rows)."""
        if self.mixture not in MIXTURE_CHOICES:
            raise ValueError(f"unknown mixture {self.mixture!r}; valid: {MIXTURE_CHOICES}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"unknown reduction {self.reduce!r}; valid: {REDUCTIONS}")
        X = unit_rows(word_vectors)
        X = X[np.linalg.norm(X, axis=1) > 0]
        self.dim_ = min(self.reduced_dim, X.shape[1]) if self.reduce != "none" else X.shape[1]
        self.center_ = self.projection_ = None
        if self.reduce != "none":
            from sklearn.decomposition import PCA, FastICA

            if self.reduce == "pca":
                reducer = PCA(n_components=self.dim_, random_state=self.seed)
            else:
                reducer = FastICA(
                    n_components=self.dim_, whiten="unit-variance", random_state=self.seed
                )
            reducer.fit(X)
            self.center_, self.projection_ = reducer.mean_, reducer.components_.T
        X = self.preprocess(X)
        self.mixtures_ = [
            MIXTURES[name](
                n_components=self.n_components,
                max_iter=self.max_iter,
                tol=self.tol,
                seed=self.seed,
            ).fit(X)
            for name in self.mixture.split("+")
        ]
        return self

    def save(self, directory) -> None:
        """Write the fitted encoder: fisher.npz (arrays) and fisher.json (params, fit summary)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {}
        if self.projection_ is not None:
            arrays |= {"center": self.center_, "projection": self.projection_}
        for i, mixture in enumerate(self.mixtures_):
            for name in _MIXTURE_ARRAYS:
                arrays[f"{i}_{name}"] = getattr(mixture, name)
        # At the stored precision (tie.features.precision): EM's last bits stay off the file.
        arrays = {name: stored_precision(values) for name, values in arrays.items()}
        np.savez(directory / ARRAYS_FILE, **arrays)
        summary = {"params": self.get_params(), "dim": self.dim_, "mixtures": self.summary()}
        (directory / PARAMS_FILE).write_text(json.dumps(summary, indent=2) + "\n")

    @classmethod
    def load(cls, directory) -> FisherVectors:
        """Read an encoder written by `save`."""
        directory = Path(directory)
        check_recorded(directory)
        with reading(directory):
            return cls._read(directory)

    @classmethod
    def _read(cls, directory: Path) -> FisherVectors:
        summary = json.loads((directory / PARAMS_FILE).read_text())
        encoder = cls(**summary["params"])
        encoder.dim_ = summary["dim"]
        with np.load(directory / ARRAYS_FILE) as arrays:
            encoder.center_ = arrays["center"] if "center" in arrays else None
            encoder.projection_ = arrays["projection"] if "projection" in arrays else None
            encoder.mixtures_ = []
            for i, fitted in enumerate(summary["mixtures"]):
                mixture = MIXTURES[fitted["mixture"]](
                    n_components=encoder.n_components,
                    max_iter=encoder.max_iter,
                    tol=encoder.tol,
                    seed=encoder.seed,
                )
                for name in _MIXTURE_ARRAYS:
                    setattr(mixture, name, arrays[f"{i}_{name}"])
                mixture.log_likelihood_ = fitted["log_likelihood"]
                mixture.n_iter_ = fitted["n_iter"]
                mixture.converged_ = fitted["converged"]
                encoder.mixtures_.append(mixture)
        return encoder

    def get_params(self) -> dict:
        return {
            "mixture": self.mixture,
            "n_components": self.n_components,
            "reduce": self.reduce,
            "reduced_dim": self.reduced_dim,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "seed": self.seed,
            "normalize": self.normalize,
        }

    def summary(self) -> list[dict]:
        """Per mixture: its name, final mean log-likelihood, EM iterations, Gaussian share."""
        return [
            {
                "mixture": name,
                # 8 significant digits: far above EM's last-bit differences between machines
                "log_likelihood": float(f"{m.log_likelihood_:.8g}"),
                "n_iter": int(m.n_iter_),
                "converged": bool(m.converged_),
                "gaussian_share": float(np.mean(m.gaussian_)),
            }
            for name, m in zip(self.mixture.split("+"), self.mixtures_, strict=True)
        ]

    @property
    def n_features_out(self) -> int:
        return 2 * self.n_components * self.dim_ * len(self.mixture.split("+"))

    def preprocess(self, word_vectors) -> np.ndarray:
        """L2-normalised word vectors, reduced as fitted."""
        X = unit_rows(word_vectors)
        if self.projection_ is not None:
            X = (X - self.center_) @ self.projection_
        return X

    def word_codes(self, word_vectors) -> scipy.sparse.csr_matrix:
        """Sparse float32 codes of every mixture side by side, (n_words, n_features_out)."""
        X = self.preprocess(word_vectors)
        chunks = [
            scipy.sparse.hstack(
                [
                    word_codes(m, X[start : start + _CODE_CHUNK_WORDS], MIN_POSTERIOR)
                    for m in self.mixtures_
                ],
                format="csr",
                dtype=np.float32,
            )
            for start in range(0, len(X), _CODE_CHUNK_WORDS)
        ]
        if not chunks:
            return scipy.sparse.csr_matrix((0, self.n_features_out), dtype=np.float32)
        return scipy.sparse.vstack(chunks, format="csr", dtype=np.float32)

    def encode(self, token_rows, word_vectors, out=None) -> np.ndarray:
        """FVs of captions given as lists of rows of `word_vectors` (one row per known word).

        Returns float32 (n_captions, n_features_out); a caption with no row is all zeros.
        `out` (e.g. a memory-mapped .npy file) receives them chunk by chunk, so that RAM
        holds the words' codes and one chunk, never all the captions' FVs.
        """
        captions, words = caption_words(token_rows, word_vectors)
        return FisherWordCodes(self, words).encode(captions, out)

    @property
    def part(self) -> int:
        """Features of one mixture's part (2 K D): `normalize` improves each on its own."""
        return 2 * self.n_components * self.dim_

    def encode_codes(self, captions: scipy.sparse.csr_matrix, codes, out=None) -> np.ndarray:
        """FVs from a caption-by-word frequency matrix and the words' (sparse) codes.

        Blocks of `CAPTION_BLOCK` captions (`tie.features.fisher_rows.expand`), the computation a
        compact feature file (`fisher.store: codes`) repeats where its rows are read.
        """
        return expand(captions.astype(np.float32), codes, self.part, self.normalize, out)


class FisherWordCodes:
    """A fitted `FisherVectors` with the codes of a list of words, computed once.

    It encodes captions given as word-frequency rows over those words (`caption_words`),
    any number of chunks of them: a Ray actor builds one and encodes chunk after chunk
    (`tie.text.ray`); `FisherVectors.encode` builds one and encodes every caption.

    Examples
    --------
    >>> captions, words = caption_words(token_rows, word_vectors)  # doctest: +SKIP
    >>> FisherWordCodes(fisher, words).encode(captions[:128]).shape  # doctest: +SKIP
    (128, 18000)
    """

    def __init__(self, fisher: FisherVectors, word_vectors):
        self.fisher = fisher
        self.codes = fisher.word_codes(word_vectors)

    def encode(self, captions: scipy.sparse.csr_matrix, out=None) -> np.ndarray:
        return self.fisher.encode_codes(captions, self.codes, out)


def caption_words(token_rows, word_vectors) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """The captions as word frequencies over the words they use, and those words' vectors.

    `token_rows` gives each caption's words as rows of `word_vectors`; the words used
    are the distinct rows, in increasing order.
    """
    used = np.unique(np.fromiter((r for rows in token_rows for r in rows), dtype=np.int64))
    position = np.zeros(len(word_vectors), dtype=np.int64)
    position[used] = np.arange(len(used))
    captions = caption_matrix([position[list(rows)] for rows in token_rows], len(used))
    return captions, np.asarray(word_vectors)[used]


def known_rows(token_lists, word_vectors) -> list[list[int]]:
    """Each caption's words as rows of `word_vectors` (unknown words left out)."""
    return [[r for t in tokens if (r := word_vectors.row(t)) is not None] for tokens in token_lists]


def fitting_rows(token_lists, word_vectors, fit_on: str) -> np.ndarray:
    """Rows of the word vectors a mixture is fitted on: each distinct word of these
    captions once (`train_words`), or every occurrence (`train_tokens`)."""
    if fit_on not in TRAIN_FIT_ON:
        raise ValueError(f"fit_on {fit_on!r} is not one of the train captions' {TRAIN_FIT_ON}")
    rows = np.fromiter(
        (r for caption in known_rows(token_lists, word_vectors) for r in caption), dtype=np.int64
    )
    return np.unique(rows) if fit_on == "train_words" else rows
