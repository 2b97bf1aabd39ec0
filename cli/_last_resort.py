"""The last resort: an operator never sees a stack trace.

Every input a person can give recall is answered with a located one-line error (exit 2).
Anything else that escapes a command is a bug in recall; it is written, with its traceback,
to a log file, and the operator gets one line naming that file (exit 1).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import click
import typer


def crash_log_path() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(tempfile.gettempdir()) / f"recall-error-{stamp}-{os.getpid()}.log"


def write_crash_log(error: BaseException, argv: list[str]) -> Path:
    path = crash_log_path()
    text = "".join(traceback.format_exception(error))
    path.write_text(f"recall {' '.join(argv[1:])}\n\n{text}", encoding="utf-8")
    return path


def guarded(main: Callable[[], object]) -> None:
    """Run ``main``; an unexpected exception becomes one line on stderr and exit code 1."""
    try:
        main()
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException):
        raise  # the command's own way out, already worded
    except Exception as error:  # the last resort: by definition, what nothing else caught
        first = (str(error).strip().splitlines() or [""])[0][:200]
        try:
            where = f"the traceback is in {write_crash_log(error, sys.argv)}"
        except OSError as log_error:
            where = f"and the traceback could not be written ({log_error.strerror})"
        print(
            f"error: recall failed unexpectedly ({type(error).__name__}: {first}); {where} "
            "— please report it with that file",
            file=sys.stderr,
        )
        sys.exit(1)
