"""``asyncvm parameters``: ``list`` against ``iree-dump-parameters`` and
``convert`` against IREE's runtime and ``iree-convert-parameters``."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys

import numpy
import pytest
from _parameter_files import write_safetensors, write_gguf
from _command_line import iree_tool, run_cli

from asyncvm.modules.io_parameters._index import ParameterIndex, load_parameter_file
from asyncvm.modules.io_parameters._irpa import write_irpa
from asyncvm.tools import _parameters

ROW = re.compile(r"^\s*(\S+) \|\s*(\S+) \|\s*(\d+) \| `(.*?)`(?: \(splat ([0-9a-f ]+)\))?$")
SCOPE = re.compile(r"^// Parameter scope (?:<global>|`(.*)`) \((\d+) entries, (\d+) total bytes\)$")


def parse_listing(text: str) -> list[tuple]:
    """``(scope, start, end, length, key)`` rows of an ``iree-dump-parameters``
    table (``-`` for a splat's start and end), checking each scope's count
    and total."""
    rows, scope, declared = [], None, []
    for line in text.splitlines():
        header = SCOPE.match(line)
        if header:
            scope = header.group(1) or ""
            declared.append((scope, int(header.group(2)), int(header.group(3))))
            continue
        row = ROW.match(line)
        if row:
            rows.append((scope, row.group(1), row.group(2), int(row.group(3)), row.group(4)))
    for scope, count, total in declared:
        mine = [row for row in rows if row[0] == scope]
        assert len(mine) == count and sum(row[3] for row in mine) == total, (scope, text)
    return rows


def dump_tool() -> str:
    tool = iree_tool("iree-dump-parameters")
    if tool is None:
        pytest.skip("iree-dump-parameters is not installed")
    return tool


def iree_dump(*specs) -> str:
    return subprocess.run([dump_tool(), *[f"--parameters={spec}" for spec in specs]],
                          capture_output=True, text=True, check=True).stdout


def iree_entries(path) -> dict:
    runtime = pytest.importorskip("iree.runtime")
    index = runtime.ParameterIndex()
    index.load(str(path))
    return {key: bytes(entry.file_view) if entry.is_file else
            ("splat", entry.length, bytes(entry.splat_pattern))
            for key, entry in index.items()}


@pytest.fixture
def files(tmp_path) -> dict:
    index = ParameterIndex()
    index.add_array("", "weight", numpy.arange(32, dtype=numpy.float32).reshape(4, 8))
    index.add_splat("", "zeros", b"\0", 1024, "<test>")
    index.add_splat("", "pattern", struct.pack("<f", 0.5), 64, "<test>")
    index.add_array("", "bias", numpy.arange(3, dtype=numpy.int64))
    irpa = tmp_path / "model.irpa"
    write_irpa(irpa, index)
    safetensors = write_safetensors(tmp_path / "model.safetensors", {
        "embedding": numpy.arange(12, dtype=numpy.float32).reshape(3, 4),
        "ids": numpy.arange(5, dtype=numpy.int8),
        "half": numpy.ones(6, numpy.float16),
    })
    gguf_file = write_gguf(tmp_path / "model.gguf", {
        "token_embd.weight": numpy.arange(16, dtype=numpy.float32).reshape(4, 4),
        "norm": numpy.ones(7, numpy.float16),
        "blocks": (numpy.arange(68, dtype=numpy.uint8).reshape(1, 68), "Q8_0"),
    })
    return {"irpa": irpa, "safetensors": safetensors, "gguf": gguf_file}


# --------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["irpa", "safetensors", "gguf"])
def test_list_matches_iree_dump_parameters(capsys, files, kind):
    path = files[kind]
    code, out, err = run_cli(capsys, "parameters", "list", str(path))
    assert code == 0, err
    assert parse_listing(out) == parse_listing(iree_dump(path))
    assert len(parse_listing(out)) >= 3


def test_list_several_files_and_scopes_matches_iree(capsys, files):
    specs = [str(files["irpa"]), f"tensors={files['safetensors']}", f"tensors={files['gguf']}"]
    code, out, err = run_cli(capsys, "parameters", "list", *specs)
    assert code == 0, err
    ours = parse_listing(out)
    assert ours == parse_listing(iree_dump(*specs))
    assert {row[0] for row in ours} == {"", "tensors"}


def test_list_shows_the_same_table_as_iree(capsys, files):
    """Not just the same entries: the same text, but for our splat patterns."""
    code, out, err = run_cli(capsys, "parameters", "list", str(files["irpa"]))
    assert code == 0, err
    without_patterns = re.sub(r" \(splat [0-9a-f ]+\)$", "", out, flags=re.MULTILINE)
    assert without_patterns == iree_dump(files["irpa"])
    assert "`pattern` (splat 00 00 00 3f)" in out and "`zeros` (splat 00)" in out


def test_list_reports_bad_files(capsys, tmp_path):
    code, out, err = run_cli(capsys, "parameters", "list", str(tmp_path / "missing.irpa"))
    assert code == 1 and "NOT_FOUND" in err and "missing.irpa" in err
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(struct.pack("<Q", 500) + b"{}")
    code, out, err = run_cli(capsys, "parameters", "list", str(broken))
    assert code == 1 and "INVALID_ARGUMENT" in err and "broken.safetensors" in err


# --------------------------------------------------------------------------
# convert
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["safetensors", "gguf", "irpa"])
def test_convert_gives_an_archive_iree_reads_with_the_same_bytes(capsys, files, tmp_path, kind):
    output = tmp_path / f"from_{kind}.irpa"
    code, out, err = run_cli(capsys, "parameters", "convert", str(files[kind]), str(output))
    assert code == 0, err
    source = {entry.key: bytes(entry.data) if not entry.is_splat else
              ("splat", entry.length, entry.pattern) for entry in load_parameter_file(files[kind])}
    assert iree_entries(output) == source
    assert parse_listing(out) == parse_listing(iree_dump(output))
    assert err == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize("kind", ["safetensors", "gguf", "irpa"])
def test_convert_matches_iree_convert_parameters_byte_for_byte(capsys, files, tmp_path, kind):
    tool = iree_tool("iree-convert-parameters")
    if tool is None:
        pytest.skip("iree-convert-parameters is not installed")
    ours, reference = tmp_path / "ours.irpa", tmp_path / "iree.irpa"
    code, out, err = run_cli(capsys, "parameters", "convert", "--quiet", str(files[kind]),
                             str(ours))
    assert code == 0 and out == "", err
    subprocess.run([tool, f"--parameters={files[kind]}", f"--output={reference}", "--quiet"],
                   check=True, capture_output=True)
    assert ours.read_bytes() == reference.read_bytes()


def test_convert_several_inputs_and_a_scope(capsys, files, tmp_path):
    output = tmp_path / "merged.irpa"
    code, out, err = run_cli(capsys, "parameters", "convert", "-q", str(files["irpa"]),
                             str(files["safetensors"]), str(files["gguf"]), str(output))
    assert code == 0, err
    assert len(iree_entries(output)) == 4 + 3 + 3
    only = tmp_path / "only.irpa"
    code, out, err = run_cli(capsys, "parameters", "convert", "-q", "--scope", "st",
                             str(files["irpa"]), f"st={files['safetensors']}", str(only))
    assert code == 0, err
    assert set(iree_entries(only)) == {"embedding", "ids", "half"}
    code, out, err = run_cli(capsys, "parameters", "convert", "--scope", "nope",
                             str(files["irpa"]), str(tmp_path / "never.irpa"))
    assert code == 1 and "NOT_FOUND" in err and "nope" in err
    assert not (tmp_path / "never.irpa").exists()


def test_convert_refuses_keys_that_collide_across_scopes(capsys, files, tmp_path):
    code, out, err = run_cli(capsys, "parameters", "convert", f"a={files['irpa']}",
                             f"b={files['irpa']}", str(tmp_path / "clash.irpa"))
    assert code == 1 and "ALREADY_EXISTS" in err and "weight" in err
    assert list(tmp_path.glob("*clash*")) == []


def test_convert_in_place(capsys, files):
    path = files["irpa"]
    before = iree_entries(path)
    code, out, err = run_cli(capsys, "parameters", "convert", "-q", str(path), str(path))
    assert code == 0, err
    assert iree_entries(path) == before


def test_progress_bar(capsys, files, tmp_path):
    code, out, err = run_cli(capsys, "parameters", "convert", "-q", "--progress", "always",
                             str(files["safetensors"]), str(tmp_path / "p.irpa"))
    assert code == 0
    assert err.startswith("\rwriting ") and "100%" in err and err.endswith("\n")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    big, small = _parameters.PROGRESS_THRESHOLD, _parameters.PROGRESS_THRESHOLD - 1
    assert _parameters._wants_progress("auto", big, Terminal())
    assert not _parameters._wants_progress("auto", small, Terminal())
    assert not _parameters._wants_progress("auto", big, io.StringIO())
    assert not _parameters._wants_progress("never", big, Terminal())
    bar = _parameters.ProgressBar(3 << 30, "writing x", Terminal())
    for _ in range(3):
        bar.update(1 << 30)
    bar.close()
    assert bar.stream.getvalue().rstrip().endswith("100% 3.0 GiB of 3.0 GiB")


def test_command_line_entry_point(files):
    result = subprocess.run([sys.executable, "-m", "asyncvm", "parameters", "list",
                             str(files["safetensors"])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "`embedding`" in result.stdout
