"""TensorFlow imported without its start-up log, unless the user asks for it.

Importing TensorFlow writes about ten lines to stderr from C++ before Python can configure
any logging (oneDNN and CPU-instruction notes, "Could not find cuda drivers", and on a
machine without a GPU "failed call to cuInit" once TensorFlow looks for devices), some of
them twice. None of it is about the user's run, and `TF_CPP_MIN_LOG_LEVEL` does not hide
the lines written before absl's log is initialised. So `import_tensorflow` imports
TensorFlow and lists its devices with the stderr file descriptor pointed at a temporary
file, then writes back every line that is not start-up noise: other warnings and errors
still show, and everything shows if the import fails.

Setting `TF_CPP_MIN_LOG_LEVEL` yourself (`0` shows everything) turns the filtering off.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager

LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
START_UP_NOISE = re.compile(
    r"I\d{4} "  # informational lines of the C++ log
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|E\d{4} .*failed call to cuInit"  # no GPU here: TensorFlow runs on the CPU
)


def import_tensorflow():
    """`import tensorflow`, its start-up noise held back (see the module's docstring)."""
    if "tensorflow" in sys.modules or LOG_LEVEL_ENV in os.environ:
        import tensorflow

        return tensorflow
    # TensorFlow reads the level once, at import: its later INFO lines are off too. The
    # variable is removed again so that child processes are not taken to have asked.
    os.environ[LOG_LEVEL_ENV] = "1"
    try:
        with _stderr_held():
            import tensorflow

            tensorflow.config.list_physical_devices()
    finally:
        del os.environ[LOG_LEVEL_ENV]
    return tensorflow


@contextmanager
def _stderr_held():
    """Point file descriptor 2 at a temporary file; then write back the lines that matter.

    If the block fails, every line is written back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as file:
        os.dup2(file.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            file.seek(0)
            lines = file.read().decode(errors="replace").splitlines(keepends=True)
            kept = lines if failed else [s for s in lines if not START_UP_NOISE.match(s)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
