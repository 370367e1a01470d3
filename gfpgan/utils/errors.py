"""One error path for every entry point (train.py, test.py, gfpgan-eval, gfpgan-infer, the scripts).

The project's known errors become one actionable line (what, where, what to do) on stderr and, once a run has a log
file, in that log too. Exit codes: 2 for bad input (options, files, images, checkpoints, weights), 1 for a failure
at run time (non-finite training, a full disk, a lost process), 130 when interrupted. A traceback only with
``--debug``.

    def main(argv=None) -> int:
        args = parse_args(argv)
        return run_main(lambda: _main(args), debug=args.debug)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from gfpgan.data.image_io import BadImageError
from gfpgan.registry import OptionError
from gfpgan.utils.state_dict import CheckpointError

__all__ = ["BAD_INPUT", "EXIT_BAD_INPUT", "EXIT_FAILURE", "one_line", "report_error", "run_main"]

logger = logging.getLogger("gfpgan")
EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def _bad_input() -> tuple[type[BaseException], ...]:
    from gfpgan.utils.weights import WeightsNotFoundError

    return (OptionError, CheckpointError, WeightsNotFoundError, BadImageError, FileNotFoundError)


BAD_INPUT = _bad_input()


def one_line(error: BaseException) -> str:
    """The error as one line: a DataLoader worker's re-raised error keeps only its own message (not the worker's
    traceback text); other multi-line messages are joined."""
    text = str(error).strip() or type(error).__name__
    if "Original Traceback" in text:  # torch.utils.data re-raises "Caught X in DataLoader worker ...\n<traceback>"
        lines = [line for line in text.splitlines() if line.strip()]
        text = lines[-1].split(": ", 1)[-1] if lines else text
    if _is_collective_timeout(error):
        text = (
            f"a collective operation timed out ({text.splitlines()[0][:160]}): another process stopped, hung or took "
            "a different path; see its log. dist_params.timeout_minutes sets the limit"
        )
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _is_collective_timeout(error: BaseException) -> bool:
    text = str(error).lower()
    return type(error).__name__ in ("DistBackendError", "DistError", "RuntimeError") and (
        "timed out" in text or "timeout" in text
    ) and ("gloo" in text or "nccl" in text or "collective" in text or "wait" in text)  # fmt: skip


def exit_code(error: BaseException) -> int:
    return EXIT_BAD_INPUT if isinstance(error, BAD_INPUT) else EXIT_FAILURE


def report_error(error: BaseException, prefix: str = "error") -> int:
    """Print the one-line message (stderr, and the run log when one is open); return the exit code."""
    message = f"{prefix}: {one_line(error)}"
    file_handlers = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    for handler in file_handlers:
        handler.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None, None))
    print(message, file=sys.stderr, flush=True)
    return exit_code(error)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, a scheduler's preemption) raises KeyboardInterrupt like Ctrl-C, so ``finally``
    blocks run: temporary files are removed and nothing half-written is left under a final name."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_main(body: Callable[[], int | None], debug: bool = False) -> int:
    """Run an entry point's body; known and unknown errors become one line and an exit code (module docstring).

    With ``debug`` (or the environment variable ``GFPGAN_DEBUG=1``) the exception propagates (full traceback). A
    ``SystemExit("message")`` raised by a script for bad input is reported the same way, with exit code 2.
    """
    debug = debug or os.environ.get("GFPGAN_DEBUG", "") in ("1", "true", "yes")
    try:
        with _terminate_as_interrupt():
            return body() or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as e:
        if not isinstance(e.code, str):
            raise
        text = e.code.removeprefix("error: ")
        print(f"error: {' '.join(part.strip() for part in text.splitlines() if part.strip())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:
        if debug:
            raise
        code = report_error(e)
        if code == EXIT_FAILURE and not _is_known_failure(e):
            print(f"({type(e).__name__}; run again with --debug for the traceback)", file=sys.stderr)
        return code


def _is_known_failure(error: BaseException) -> bool:
    from gfpgan.utils.checkpoint import CheckpointWriteError

    return isinstance(error, CheckpointWriteError) or type(error).__name__ == "TrainingStopped" or (
        _is_collective_timeout(error)
    )  # fmt: skip
