"""Helpers for tests of the command-line tools: IREE's tools beside ours."""

from __future__ import annotations

import pathlib
import shutil
import sys

from asyncvm.tools import main


def iree_tool(name: str) -> str | None:
    """The path of one of IREE's tools (``iree-run-module``...) installed
    with this Python, or on PATH; None if there is none."""
    candidate = pathlib.Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def run_cli(capsys, *arguments: str) -> tuple[int, str, str]:
    """Runs ``asyncvm ARGUMENTS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
