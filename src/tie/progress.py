"""Progress of long steps: a bar on a terminal, plain lines in a log file.

On a terminal, tqdm's bar redraws itself with carriage returns. Written to a file (`dvc
repro > log 2>&1`, a batch job), those redraws are one endless line, or nothing at all
with tqdm's `disable=None`; there `progress` prints a plain line instead, every
`EVERY_PERCENT` percent of the work (a step that ends within seconds: fewer, at most
one every `MIN_SECONDS`) and at least every `EVERY_SECONDS` seconds, e.g.
`colorgrid: 700/1400 img (50%), 12 s, 58.3 img/s`, and one line when the step ends.
Every long step of the stages uses it: the demo's images (data), image_features, mixture,
text_features, cca, and evaluate's MLflow logging. A line comes when a unit of work ends:
a unit that itself takes over `EVERY_SECONDS` (e.g. one CCA block at 18,000-d on a loaded
machine) gives one line per unit.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

EVERY_PERCENT = 5
EVERY_SECONDS = 30.0
MIN_SECONDS = 2.0


def progress(iterable=None, *, total=None, desc: str, unit: str, initial: int = 0, file=None):
    """A progress counter: `.update(n)`, `.close()`, a context manager, and iterable if given.

    `file` defaults to stderr: a tqdm bar where it is a terminal, `LogProgress` lines elsewhere.
    """
    file = sys.stderr if file is None else file
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    isatty = getattr(file, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file)


class LogProgress:
    """tqdm's counting interface, writing whole lines for a log file."""

    def __init__(self, iterable=None, *, total, desc, unit, initial=0, file):
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.file = file
        self._initial = initial
        self._start = self._last_time = time.monotonic()
        self._last_step = self._step(initial)
        self._closed = False
        self._printed = None

    def _step(self, n):
        return n * 100 // (self.total * EVERY_PERCENT) if self.total else 0

    def _line(self, now):
        elapsed = now - self._start
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        if self.total:
            done += f" ({100 * self.n // self.total}%)"
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else 0.0
        print(
            f"{self.desc}: {done}, {elapsed:.0f} s, {rate:.1f} {self.unit}/s",
            file=self.file,
            flush=True,
        )
        self._last_time = now
        self._printed = self.n

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        step = self._step(self.n)
        since = now - self._last_time
        if (step > self._last_step and since >= MIN_SECONDS) or since >= EVERY_SECONDS:
            self._last_step = step
            self._line(now)

    def close(self):
        if not self._closed:
            self._closed = True
            if self._printed != self.n:
                self._line(time.monotonic())

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
