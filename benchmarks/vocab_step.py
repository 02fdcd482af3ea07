"""Time and peak memory of the `vocab` step on a generated GoogleNews-sized word2vec binary.

    python benchmarks/vocab_step.py                  # 3,000,000 words x 300 (3.6 GB in /tmp)
    python benchmarks/vocab_step.py --words 500000   # smaller, to see how it scales

The file is written to a temporary folder (never the repository) and deleted at the end
unless --keep. The step is run in a fresh process, as the stage runs, keeping the
vectors of a caption-sized vocabulary (20,000 words of the file and 2,000 absent ones);
its peak RSS (VmHWM) is that process's. `--gzip` also measures the gzipped file, the form the
gensim-data release is downloaded in.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 300
CHUNK_WORDS = 100_000

READ = r"""
import re, sys, time
from tie.text.vector_files import read_word_vectors
path, fmt = sys.argv[1], sys.argv[2]
wanted = set(open(sys.argv[3]).read().split())
start = time.perf_counter()
wv = read_word_vectors(path, wanted, fmt)
seconds = time.perf_counter() - start
status = open("/proc/self/status").read()
peak_mib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
print(len(wv.words), seconds, peak_mib)
"""
# VmHWM, not getrusage: ru_maxrss survives fork + exec, so a child started by this
# (large) generating process would report the parent's peak instead of its own.


def word(k: int) -> str:
    return f"w{k:07d}"


def write_binary(path: Path, n_words: int) -> None:
    """A word2vec binary: header, then per word `w0000042 ` + 300 float32 + newline."""
    rng = np.random.default_rng(0)
    record = 9 + 4 * DIM + 1
    with open(path, "wb") as out:
        out.write(f"{n_words} {DIM}\n".encode())
        for start in range(0, n_words, CHUNK_WORDS):
            n = min(CHUNK_WORDS, n_words - start)
            block = np.empty((n, record), dtype=np.uint8)
            names = np.array([word(k) for k in range(start, start + n)], dtype="S8")
            block[:, :8] = names.view(np.uint8).reshape(n, 8)
            block[:, 8] = ord(" ")
            vectors = rng.standard_normal((n, DIM), dtype=np.float32) * 0.1
            block[:, 9:-1] = vectors.astype("<f4").view(np.uint8)
            block[:, -1] = ord("\n")
            out.write(block.tobytes())


def measure(path: Path, file_format: str, vocab_file: Path) -> tuple[int, float, float]:
    result = subprocess.run(
        [sys.executable, "-c", READ, str(path), file_format, str(vocab_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    kept, seconds, peak = result.stdout.split()
    return int(kept), float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=3_000_000)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="tie-vocab-bench-", dir=args.dir))
    try:
        binary = folder / "vectors.bin"
        start = time.perf_counter()
        write_binary(binary, args.words)
        size_gb = binary.stat().st_size / 1e9
        print(f"generated {binary} ({size_gb:.2f} GB) in {time.perf_counter() - start:.0f} s")
        rng = np.random.default_rng(1)
        present = rng.choice(args.words, size=min(20_000, args.words), replace=False)
        vocab_file = folder / "vocab.txt"
        absent = [f"absent{k}" for k in range(2_000)]
        vocab_file.write_text("\n".join([word(k) for k in present] + absent) + "\n")

        rows = [("word2vec binary", binary, *measure(binary, "word2vec_binary", vocab_file))]
        if args.gzip:
            packed = folder / "vectors.bin.gz"
            with open(binary, "rb") as src, gzip.open(packed, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
            rows.append(("gzipped", packed, *measure(packed, "word2vec_binary", vocab_file)))

        print(f"\nvocab step: {args.words:,} words x {DIM}, keeping {len(present):,} words")
        print(f"{'file':<18}{'size GB':>9}{'kept':>8}{'seconds':>9}{'words/s':>12}{'peak MiB':>10}")
        for label, path, kept, seconds, peak in rows:
            size = path.stat().st_size / 1e9
            rate = args.words / seconds
            print(f"{label:<18}{size:>9.2f}{kept:>8,}{seconds:>9.1f}{rate:>12,.0f}{peak:>10.0f}")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
