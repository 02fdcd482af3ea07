"""Benchmark: Fisher-vector encoding of captions, K=30 components, D=300, 10-word captions.

    .venv/bin/python benchmarks/fisher_vectors.py            # about 2 min on 2 cores
    .venv/bin/python benchmarks/fisher_vectors.py --captions 50000 --vocabulary 20000

Synthetic word vectors (a vocabulary of clustered 300-d vectors, heavy-tailed in half the
dimensions) and captions of 10 words drawn with Zipf-like frequencies. For each mixture
(GMM, HGLMM; fitted on a sample of the vocabulary, fit time shown), side by side:

- project: `FisherVectors.encode` - per-word codes for the words the captions use, once,
  then a sparse (captions x words) matrix times them, then signed sqrt + L2; into fresh
  memory (what writing a new feature file costs: the kernel maps and zeroes every page of
  the 72 KB per caption), and into an output buffer whose pages exist already ("warm");
- loop: the same FV written the obvious way in numpy, caption by caption (posteriors of
  its words, the (words, K, D) deviations, sums, normalisation), timed on a subset;
- the largest absolute difference between the two (float32 output).

Prints captions per second of wall time and per CPU-second (summed over threads: less
sensitive to other processes sharing the cores), and the ratio of wall rates; the
machine's load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.special import logsumexp

from tie.text.fisher_vectors import FisherVectors

K, D, WORDS_PER_CAPTION = 30, 300, 10


def synthetic_vocabulary(n_words: int, rng) -> np.ndarray:
    centres = rng.normal(size=(50, D))
    labels = rng.integers(0, 50, size=n_words)
    noise = np.hstack([rng.normal(size=(n_words, D // 2)), rng.laplace(size=(n_words, D - D // 2))])
    return centres[labels] + 0.7 * noise


def loop_encode(encoder: FisherVectors, captions, vocabulary) -> np.ndarray:
    """The obvious per-caption computation, for one mixture."""
    (mixture,) = encoder.mixtures_
    w, mu, scale, gaussian = mixture.weights_, mixture.means_, mixture.scales_, mixture.gaussian_
    out = np.zeros((len(captions), 2 * K * D), dtype=np.float32)
    for c, rows in enumerate(captions):
        x = encoder.preprocess(vocabulary[rows])  # (T, D)
        z = (x[:, None, :] - mu) / scale  # (T, K, D)
        log_density = np.where(
            gaussian,
            -0.5 * np.log(2 * np.pi) - np.log(scale) - 0.5 * z**2,
            -np.log(2 * scale) - np.abs(z),
        ).sum(axis=2) + np.log(w)
        posterior = np.exp(log_density - logsumexp(log_density, axis=1, keepdims=True))
        g = posterior[:, :, None] / np.sqrt(w)[None, :, None]
        location = (g * np.where(gaussian, z, np.sign(z))).mean(axis=0)
        spread = (g * np.where(gaussian, (z**2 - 1) / np.sqrt(2), np.abs(z) - 1)).mean(axis=0)
        fv = np.concatenate([location.ravel(), spread.ravel()])
        fv = np.sign(fv) * np.sqrt(np.abs(fv))
        out[c] = fv / np.linalg.norm(fv)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captions", type=int, default=20_000)
    parser.add_argument("--vocabulary", type=int, default=10_000)
    parser.add_argument("--fit-words", type=int, default=5_000)
    parser.add_argument("--loop-captions", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vocabulary = synthetic_vocabulary(args.vocabulary, rng)
    frequency = 1.0 / np.arange(1, args.vocabulary + 1)
    frequency /= frequency.sum()
    captions = rng.choice(args.vocabulary, size=(args.captions, WORDS_PER_CAPTION), p=frequency)
    captions = captions.tolist()
    fit_sample = vocabulary[rng.choice(args.vocabulary, args.fit_words, replace=False)]
    print(f"load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
    print(
        f"{args.captions} captions of {WORDS_PER_CAPTION} words, vocabulary {args.vocabulary},"
        f" K={K}, D={D}; mixtures fitted on {args.fit_words} words (max_iter 20)\n"
    )
    header = (
        f"{'mixture':8} {'fit s':>6} {'project cap/s':>14} {'per CPU-s':>10} {'warm cap/s':>11}"
        f" {'loop cap/s':>11} {'per CPU-s':>10} {'ratio':>6} {'max |diff|':>11}"
    )
    print(header)
    for name in ("gmm", "hglmm"):
        encoder = FisherVectors(mixture=name, n_components=K, max_iter=20, seed=0)
        start = time.perf_counter()
        encoder.fit(fit_sample)
        fit_seconds = time.perf_counter() - start

        start, cpu = time.perf_counter(), time.process_time()
        fast = encoder.encode(captions, vocabulary)
        fast_rate = len(captions) / (time.perf_counter() - start)
        fast_cpu_rate = len(captions) / (time.process_time() - cpu)
        start = time.perf_counter()
        encoder.encode(captions, vocabulary, out=fast)  # the same buffer, its pages mapped
        warm_rate = len(captions) / (time.perf_counter() - start)

        subset = captions[: args.loop_captions]
        start, cpu = time.perf_counter(), time.process_time()
        slow = loop_encode(encoder, subset, vocabulary)
        slow_rate = len(subset) / (time.perf_counter() - start)
        slow_cpu_rate = len(subset) / (time.process_time() - cpu)
        difference = np.abs(fast[: len(subset)] - slow).max()
        print(
            f"{name:8} {fit_seconds:6.1f} {fast_rate:14,.0f} {fast_cpu_rate:10,.0f}"
            f" {warm_rate:11,.0f}"
            f" {slow_rate:11,.0f} {slow_cpu_rate:10,.0f} {fast_rate / slow_rate:5.0f}x"
            f" {difference:11.1e}"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
