"""``asyncvm parameters``: list and convert parameter files, beside IREE's
``iree-dump-parameters`` and ``iree-convert-parameters``.

``asyncvm parameters list [SCOPE=]FILE...`` prints the entries of each scope
in ``iree-dump-parameters``' table (file offsets of data entries, ``-`` for
splats, whose pattern follows the key). ``asyncvm parameters convert
[SCOPE=]INPUT... OUTPUT`` writes the parameters of ``.irpa``,
``.safetensors`` and ``.gguf`` files into one IREE parameter archive
(archives have no scopes: ``--scope`` keeps one scope's entries only),
streaming the contents from the memory-mapped inputs, with a progress bar on
stderr when that is a terminal and the contents are big; then prints the new
archive's table, as ``iree-convert-parameters`` does, unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import sys
import time

from asyncvm.modules.io_parameters import split_scope
from asyncvm.modules.io_parameters._index import ParameterIndex, load_parameter_file
from asyncvm.modules.io_parameters._irpa import write_irpa
from asyncvm.vm import StatusCode, VMError

# Contents at least this big get a progress bar when stderr is a terminal.
PROGRESS_THRESHOLD = 64 << 20

_RULE = "//===" + "-" * 110 + "===//\n"
_COLUMNS = ("//===------------+------------------+------------------+"
            "-----------------------------------------------------------===//\n"
            "//         Start |              End |           Length | Key\n"
            "//---------------+------------------+------------------+"
            "--------------------------------------------------------------//\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="print the entries of parameter files (like iree-dump-parameters)",
        description="Print each scope's entries: file offsets and lengths, or splat patterns.")
    listing.add_argument("files", nargs="+", metavar="[SCOPE=]FILE",
                         help="a .irpa, .safetensors or .gguf file, optionally in a named scope")
    convert = actions.add_parser(
        "convert", help="write parameter files into one .irpa archive "
                        "(like iree-convert-parameters)",
        description="Write the parameters of .irpa, .safetensors and .gguf files into one "
                    "IREE parameter archive.")
    convert.add_argument("inputs", nargs="+", metavar="[SCOPE=]INPUT",
                         help="a .irpa, .safetensors or .gguf file, optionally in a named scope")
    convert.add_argument("output", metavar="OUTPUT", help="the .irpa file to write")
    convert.add_argument("--scope", default=None,
                         help="write only the entries of this scope (default: all; the keys "
                              "of all scopes must then differ)")
    convert.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                         help="progress bar on stderr: auto (a terminal and over "
                              f"{PROGRESS_THRESHOLD >> 20} MiB of contents), always or never")
    convert.add_argument("-q", "--quiet", action="store_true",
                         help="do not print the new archive's entries")


def load_files(specs: list[str]) -> ParameterIndex:
    """One index of the files ``[scope=]path`` (IREE's ``--parameters``)."""
    index = ParameterIndex()
    for spec in specs:
        scope, path = split_scope(spec)
        index.add_file(path, scope)
    return index


def format_listing(index: ParameterIndex) -> str:
    """``iree-dump-parameters``' table for each scope of ``index`` (scopes
    in order of first appearance, entries in index order), with a splat's
    pattern (bytes in memory order) after its key."""
    by_scope: dict[str, list] = {}
    for entry in index:
        by_scope.setdefault(entry.scope, []).append(entry)
    lines = []
    for scope, entries in by_scope.items():
        title = f"`{scope}`" if scope else "<global>"
        total = sum(entry.length for entry in entries)
        lines.append(_RULE)
        lines.append(f"// Parameter scope {title} ({len(entries)} entries, {total} total bytes)\n")
        lines.append(_COLUMNS)
        for entry in entries:
            if entry.is_splat:
                lines.append(f"{'-':>16} | {'-':>16} | {entry.length:16d} | `{entry.key}` "
                             f"(splat {entry.pattern.hex(' ')})\n")
            elif entry.offset is None:
                lines.append(f"{'?':>16} | {'?':>16} | {entry.length:16d} | `{entry.key}`\n")
            else:
                lines.append(f"{entry.offset:16d} | {entry.offset + entry.length:16d} | "
                             f"{entry.length:16d} | `{entry.key}`\n")
        lines.append("\n")
    return "".join(lines)


class ProgressBar:
    """A one-line progress bar redrawn on ``stream`` at most 10 times a second."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream=None) -> None:
        self.total, self.label = max(total, 1), label
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._drawn_at = 0.0
        self._drawn = -1

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._drawn_at >= 0.1 or self.done >= self.total:
            self._drawn_at = now
            self._draw()

    def _draw(self) -> None:
        if self._drawn == self.done:
            return
        self._drawn = self.done
        fraction = min(self.done / self.total, 1.0)
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} "
                          f"{_size(self.done)} of {_size(self.total)}")
        self.stream.flush()

    def close(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{count} B"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


def _wants_progress(mode: str, total: int, stream) -> bool:
    if mode == "never":
        return False
    if mode == "always":
        return True
    try:
        return total >= PROGRESS_THRESHOLD and stream.isatty()
    except (AttributeError, ValueError):
        return False


def convert(inputs: list[str], output: str, *, scope: str | None = None,
            progress: str = "auto", stream=None) -> int:
    """Writes the parameters of ``inputs`` into the archive ``output``;
    returns the number of entries written."""
    index = load_files(inputs)
    entries = list(index)
    if scope is not None:
        if scope not in index.scopes:
            raise VMError(StatusCode.NOT_FOUND,
                          f"no parameters in scope {scope!r} (scopes: "
                          f"{', '.join(repr(s) for s in index.scopes) or 'none'})")
        entries = [entry for entry in entries if entry.scope == scope]
    total = sum(entry.length for entry in entries if not entry.is_splat)
    stream = stream if stream is not None else sys.stderr
    bar = ProgressBar(total, f"writing {output}", stream) \
        if _wants_progress(progress, total, stream) else None
    try:
        write_irpa(output, entries, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return len(entries)


async def run(arguments: argparse.Namespace) -> int:
    if arguments.action == "list":
        print(format_listing(load_files(arguments.files)), end="")
        return 0
    convert(arguments.inputs, arguments.output, scope=arguments.scope,
            progress=arguments.progress)
    if not arguments.quiet:
        print(format_listing(load_parameter_file(arguments.output)), end="")
    return 0
