"""Parameter files (.irpa, .safetensors, .gguf) into the parameter index.

* round trips: our .irpa writer and reader, data and splat entries, bytes equal;
* differential: IREE's runtime (``iree.runtime.ParameterIndex``) reads the
  files we write, we read the files IREE writes (its Python writer,
  ``iree-create-parameters``), and for safetensors/gguf both read the same
  entries and bytes; our archives are byte-identical to IREE's;
* memory: indexing a sparse 1 GiB file touches its header only (RSS), and
  entries are read-only views of the mapping, never copies;
* bad files: each a VMError naming the file (and the key where known);
* fuzzing: mutated headers of small valid files give a valid index whose
  entries all lie in the file, or a VMError — never another exception or a hang.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy
import pytest
from _parameter_files import write_safetensors, write_gguf
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from asyncvm.modules.io_parameters._files import detect_format, map_file, split_scope
from asyncvm.modules.io_parameters._index import ParameterIndex, load_parameter_file
from asyncvm.modules.io_parameters._irpa import irpa_layout, write_irpa
from asyncvm.vm import StatusCode, VMError

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))
from _command_line import iree_tool  # noqa: E402

FUZZ_SETTINGS = dict(max_examples=100, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def iree_runtime():
    return pytest.importorskip("iree.runtime")


def gguf_package():
    return pytest.importorskip("gguf")


# --------------------------------------------------------------------------
# Helpers: writing the formats, comparing with IREE
# --------------------------------------------------------------------------


def ours(path, scope: str = "") -> dict:
    """``key -> (length, bytes or None, pattern or None, metadata)``."""
    return {entry.key: (entry.length, None if entry.is_splat else bytes(entry.data),
                        entry.pattern, entry.metadata)
            for entry in load_parameter_file(path, scope)}


def theirs(path) -> dict:
    """The same from IREE's runtime."""
    runtime = iree_runtime()
    index = runtime.ParameterIndex()
    index.load(str(path))
    result = {}
    for key, entry in index.items():
        if entry.is_splat:
            pattern = bytes(entry.splat_pattern)
            result[key] = (entry.length, None, pattern, bytes(entry.metadata))
        else:
            result[key] = (entry.length, bytes(entry.file_view), None, bytes(entry.metadata))
    return result


def offsets(path) -> dict:
    """``key -> file offset`` of data entries, ours."""
    return {entry.key: entry.offset for entry in load_parameter_file(path) if not entry.is_splat}


def iree_offsets(path) -> dict:
    runtime = iree_runtime()
    index = runtime.ParameterIndex()
    index.load(str(path))
    return {key: entry.file_storage[1] for key, entry in index.items() if entry.is_file}


def sample_index() -> ParameterIndex:
    index = ParameterIndex()
    index.add_array("", "weights", numpy.arange(24, dtype=numpy.float32).reshape(4, 6))
    index.add_splat("", "zeros", b"\0", 4096, "<test>")
    index.add_array("", "bias", numpy.array([1.5, -2.0, 3.25], numpy.float64))
    index.add_splat("", "ones.f32", struct.pack("<f", 1.0), 64, "<test>", metadata=b"f32")
    index.add_range("", "tagged", numpy.arange(100, dtype=numpy.uint8), 10, 50, "<test>",
                    metadata=b'{"dtype": "u8"}')
    index.add_array("", "empty", numpy.zeros(0, numpy.int32))
    index.add_splat("", "wide", bytes(range(16)), 160, "<test>")
    return index


def expected_of(index: ParameterIndex) -> dict:
    return {entry.key: (entry.length, None if entry.is_splat else bytes(entry.data),
                        entry.pattern, entry.metadata) for entry in index}


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def anonymous_bytes() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def assert_vmerror(call, status, *fragments):
    with pytest.raises(VMError) as caught:
        call()
    assert caught.value.status == status, str(caught.value)
    for fragment in fragments:
        assert str(fragment) in caught.value.message, caught.value.message
    return caught.value


# --------------------------------------------------------------------------
# .irpa: round trips and IREE
# --------------------------------------------------------------------------


def test_irpa_round_trip(tmp_path):
    index = sample_index()
    path = tmp_path / "sample.irpa"
    size = write_irpa(path, index)
    assert path.stat().st_size == size and size % 4096 == 0
    assert ours(path) == expected_of(index)
    entries = {entry.key: entry for entry in load_parameter_file(path, "scope")}
    assert entries["weights"].scope == "scope"
    assert entries["weights"].offset % 64 == 0
    assert entries["zeros"].read(100, 8).tolist() == [0] * 8
    assert entries["wide"].read(14, 4).tolist() == [14, 15, 0, 1]


def test_irpa_written_twice_is_identical(tmp_path):
    first, second = tmp_path / "a.irpa", tmp_path / "b.irpa"
    write_irpa(first, sample_index())
    write_irpa(second, load_parameter_file(first))
    assert first.read_bytes() == second.read_bytes()


def test_iree_reads_our_irpa(tmp_path):
    path = tmp_path / "ours.irpa"
    index = sample_index()
    write_irpa(path, index)
    assert theirs(path) == expected_of(index)
    assert iree_offsets(path) == offsets(path)


def test_we_read_irpa_written_by_iree_runtime(tmp_path):
    runtime = iree_runtime()
    source = runtime.ParameterIndex()
    source.add_buffer("w", numpy.arange(10, dtype=numpy.float32), metadata="hello")
    source.add_splat("z", numpy.array([1, 2], numpy.uint8), 64)
    source.add_buffer("e", numpy.zeros(0, numpy.uint8))
    source.add_splat("q", numpy.float32(1.5), 16, metadata="m")
    source.add_buffer("b", numpy.arange(100, dtype=numpy.uint8))
    path = tmp_path / "iree.irpa"
    source.create_archive_file(str(path))
    assert ours(path) == theirs(path)
    assert offsets(path) == iree_offsets(path)
    # Our writer lays the same entries out exactly as IREE's builder did.
    again = tmp_path / "again.irpa"
    write_irpa(again, load_parameter_file(path))
    assert again.read_bytes() == path.read_bytes()


def test_we_read_iree_create_parameters(tmp_path):
    tool = iree_tool("iree-create-parameters")
    if tool is None:
        pytest.skip("iree-create-parameters is not installed")
    path = tmp_path / "created.irpa"
    # (Data parameters with a fill pattern make the 3.13 tool fail; zeros are fine.)
    subprocess.run([tool, "--data=my.zeroed=4096xf32", "--data=other=3x5xi16",
                    "--splat=my.splat=16xi16=123", "--splat=s8=3xi8=7",
                    f"--output={path}"], check=True, capture_output=True)
    entries = ours(path)
    assert entries == theirs(path)
    assert entries["my.splat"] == (32, None, struct.pack("<h", 123), b"")
    assert entries["my.zeroed"][:2] == (16384, bytes(16384))
    assert offsets(path) == iree_offsets(path)


def test_irpa_linked_archives_follow_the_schema(tmp_path):
    """A second archive linked from the first: its offsets are relative to
    its own header (IREE 3.13 misreads these: it reuses the first header's
    segment table)."""
    first, second = ParameterIndex(), ParameterIndex()
    first.add_array("", "a", numpy.arange(4, dtype=numpy.int32))
    second.add_array("", "b", numpy.arange(8, dtype=numpy.int32))
    second.add_splat("", "s", b"\5", 10, "<test>")
    write_irpa(tmp_path / "1.irpa", first)
    write_irpa(tmp_path / "2.irpa", second)
    head = bytearray((tmp_path / "1.irpa").read_bytes())
    struct.pack_into("<Q", head, 16, len(head))
    linked = tmp_path / "linked.irpa"
    linked.write_bytes(bytes(head) + (tmp_path / "2.irpa").read_bytes())
    entries = ours(linked)
    assert entries == {**expected_of(first), **expected_of(second)}
    struct.pack_into("<Q", head, 16, len(head) + 8)  # not 16-byte aligned
    linked.write_bytes(bytes(head) + (tmp_path / "2.irpa").read_bytes())
    assert_vmerror(lambda: load_parameter_file(linked), StatusCode.INVALID_ARGUMENT,
                   linked, "aligned")


def test_entries_are_read_only_views_of_one_mapping(tmp_path):
    path = tmp_path / "views.irpa"
    write_irpa(path, sample_index())
    index = load_parameter_file(path)
    data_entries = [entry for entry in index if not entry.is_splat and entry.length]
    bases = set()
    for entry in data_entries:
        assert not entry.data.flags.writeable and not entry.data.flags.owndata
        with pytest.raises(ValueError):
            entry.data[0] = 1
        base = entry.data
        while isinstance(base, numpy.ndarray) and base.base is not None:
            base = base.base
        bases.add(id(base))
    assert len(bases) == 1  # every view hangs off the same mapping


def test_write_irpa_rejects_what_archives_cannot_hold(tmp_path):
    index = ParameterIndex()
    index.add_array("a", "same", numpy.arange(3, dtype=numpy.int8))
    index.add_array("b", "same", numpy.arange(3, dtype=numpy.int8))
    target = tmp_path / "never.irpa"
    assert_vmerror(lambda: write_irpa(target, index), StatusCode.ALREADY_EXISTS, "same")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    assert_vmerror(lambda: write_irpa(tmp_path / "no" / "dir.irpa", []), StatusCode.UNAVAILABLE,
                   "dir.irpa")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# .safetensors and .gguf: both runtimes read the same entries
# --------------------------------------------------------------------------


def safetensors_sample(path) -> Path:
    return write_safetensors(path, {
        "embedding": numpy.arange(12, dtype=numpy.float32).reshape(3, 4),
        "ids": numpy.arange(5, dtype=numpy.int8),
        "half": numpy.ones((2, 3), numpy.float16),
        "empty": numpy.zeros((0, 4), numpy.float32),
        "flag": numpy.array([True, False, True]),
    }, padding=5, metadata={"format": "pt"})


def test_safetensors_matches_iree(tmp_path):
    path = safetensors_sample(tmp_path / "model.safetensors")
    entries = ours(path)
    assert entries == theirs(path)
    assert offsets(path) == iree_offsets(path)
    assert numpy.frombuffer(entries["embedding"][1], numpy.float32).tolist() == list(range(12))
    assert "__metadata__" not in entries


def test_safetensors_made_by_the_safetensors_package(tmp_path):
    try:
        import safetensors.numpy as numpy_io
    except ImportError:
        pytest.skip("optional: the safetensors package is not a test dependency of asyncvm")
    path = tmp_path / "package.safetensors"
    numpy_io.save_file({"a": numpy.arange(6, dtype=numpy.float32), "b": numpy.ones(3, numpy.int64)},
                       str(path), metadata={"k": "v"})
    assert ours(path) == theirs(path)


def test_safetensors_overlapping_tensors_read_as_iree_reads_them(tmp_path):
    """IREE does not reject overlapping or gappy data offsets; neither do we."""
    def overlap(header):
        header["alias"] = {"dtype": "F32", "shape": [4], "data_offsets": [4, 20]}
        return header
    path = write_safetensors(tmp_path / "overlap.safetensors",
                             {"x": numpy.arange(8, dtype=numpy.float32)}, header_override=overlap)
    assert ours(path) == theirs(path)


def test_gguf_matches_iree(tmp_path):
    gguf = gguf_package()
    path = write_gguf(tmp_path / "model.gguf", {
        "token_embd.weight": numpy.arange(12, dtype=numpy.float32).reshape(3, 4),
        "half": numpy.arange(7, dtype=numpy.float16),
        "q8": (numpy.arange(68, dtype=numpy.uint8).reshape(1, 68), gguf.GGMLQuantizationType.Q8_0),
    })
    entries = ours(path)
    assert entries == theirs(path)
    assert offsets(path) == iree_offsets(path)
    assert set(entries) == {"token_embd.weight", "half", "q8"}
    assert all(offset % 32 == 0 for offset in offsets(path).values())


def test_gguf_types_newer_than_iree(tmp_path):
    """I8 is GGML type 24 today; IREE 3.13 knows it as 16 and refuses the
    file. We size it with the gguf package's table."""
    path = write_gguf(tmp_path / "int8.gguf", {"x": numpy.arange(7, dtype=numpy.int8)}, metadata=False)
    assert ours(path) == {"x": (7, bytes(range(7)), None, b"")}


def test_gguf_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    path = write_gguf(tmp_path / "model.gguf", {"x": numpy.ones(4, numpy.float32)})
    monkeypatch.setitem(sys.modules, "gguf", None)
    monkeypatch.setitem(sys.modules, "gguf.constants", None)
    assert_vmerror(lambda: load_parameter_file(path), StatusCode.UNAVAILABLE,
                   path, "pip install asyncvm[gguf]")


# --------------------------------------------------------------------------
# Format choice, scopes, all-or-nothing
# --------------------------------------------------------------------------


def test_format_by_magic_then_suffix(tmp_path):
    write_irpa(tmp_path / "archive.bin", sample_index())
    safetensors_sample(tmp_path / "tensors.bin")
    assert set(ours(tmp_path / "archive.bin")) == {entry.key for entry in sample_index()}
    assert "ids" in ours(tmp_path / "tensors.bin")
    (tmp_path / "other.bin").write_bytes(b"\1\2\3\4 whatever")
    assert_vmerror(lambda: load_parameter_file(tmp_path / "other.bin"), StatusCode.UNIMPLEMENTED,
                   "other.bin")
    (tmp_path / "UPPER.IRPA").write_bytes(b"")
    assert detect_format("UPPER.IRPA", map_file(tmp_path / "UPPER.IRPA")) == "irpa"
    assert load_parameter_file(tmp_path / "archive.bin", format="irpa")
    assert_vmerror(lambda: load_parameter_file(tmp_path / "archive.bin", format="safetensors"),
                   StatusCode.INVALID_ARGUMENT, "archive.bin")


def test_add_file_is_all_or_nothing(tmp_path):
    path = safetensors_sample(tmp_path / "model.safetensors")
    index = ParameterIndex()
    index.add_array("", "half", numpy.zeros(3, numpy.float16))
    error = assert_vmerror(lambda: index.add_file(path), StatusCode.ALREADY_EXISTS, "::half", path)
    assert [entry.key for entry in index] == ["half"], error
    added = index.add_file(path, "other")
    assert [entry.key for entry in added] == ["embedding", "ids", "half", "empty", "flag"]
    assert index.lookup("other", "ids").length == 5 and len(index) == 6


def test_split_scope(tmp_path):
    assert split_scope("model.irpa") == ("", "model.irpa")
    assert split_scope("my_scope=model.irpa") == ("my_scope", "model.irpa")
    odd = tmp_path / "a=b.irpa"
    odd.write_bytes(b"")
    assert split_scope(str(odd)) == ("", str(odd))


def test_missing_and_unmappable_files(tmp_path):
    assert_vmerror(lambda: load_parameter_file(tmp_path / "none.irpa"), StatusCode.NOT_FOUND,
                   "none.irpa")
    assert_vmerror(lambda: load_parameter_file(tmp_path), StatusCode.INVALID_ARGUMENT, tmp_path)
    (tmp_path / "empty.irpa").write_bytes(b"")
    assert_vmerror(lambda: load_parameter_file(tmp_path / "empty.irpa"),
                   StatusCode.INVALID_ARGUMENT, "empty.irpa")


# --------------------------------------------------------------------------
# Memory: a big file is mapped, not read
# --------------------------------------------------------------------------

GIB = 1 << 30
RSS_ALLOWANCE = 64 << 20


def sparse_irpa(path, length: int) -> Path:
    """An archive with one ``length``-byte data entry, written sparsely."""
    entry = ParameterIndex().add_range("", "big", numpy.broadcast_to(numpy.uint8(0), (length,)),
                                       0, length, "<sparse>")
    header, rows, storage_offset, size = irpa_layout([entry])
    with open(path, "wb") as file:
        file.write(header + bytes(96 - len(header)) + rows[0][2] + rows[0][0])
        file.truncate(size)
    return Path(path)


def sparse_safetensors(path, length: int) -> Path:
    raw = json.dumps({"big": {"dtype": "U8", "shape": [length], "data_offsets": [0, length]}})
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(raw)) + raw.encode())
        file.truncate(8 + len(raw) + length)
    return Path(path)


def sparse_gguf(path, length: int) -> Path:
    gguf = gguf_package()
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor_info("big", [length], numpy.dtype(numpy.uint8), length,
                           raw_dtype=gguf.GGMLQuantizationType.I8)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    with open(path, "r+b") as file:
        end = file.seek(0, os.SEEK_END)
        file.truncate((end + 31) // 32 * 32 + length)
    return Path(path)


@pytest.mark.parametrize("make", [sparse_irpa, sparse_safetensors, sparse_gguf],
                         ids=["irpa", "safetensors", "gguf"])
def test_indexing_a_1gib_file_does_not_read_it(tmp_path, make):
    path = make(tmp_path / f"big.{make.__name__.split('_')[1]}", GIB)
    if path.stat().st_blocks * 512 > 64 << 20:
        pytest.skip("the file system does not make sparse files")
    before = resident_bytes()
    index = load_parameter_file(path)
    entry = index.lookup("", "big")
    after = resident_bytes()
    assert entry.length == GIB and entry.data.shape == (GIB,)
    assert not entry.data.flags.writeable
    assert after - before < RSS_ALLOWANCE, f"RSS grew by {(after - before) >> 20} MiB"
    assert entry.read(GIB - 4, 4).tolist() == [0, 0, 0, 0]


def test_writing_streams_from_the_mapping(tmp_path):
    """Converting 256 MiB does not allocate 256 MiB (anonymous memory; the
    mapped file's pages are page cache, not ours)."""
    if anonymous_bytes() is None:
        pytest.skip("/proc/self/status has no RssAnon here")
    length = 256 << 20
    source = load_parameter_file(sparse_safetensors(tmp_path / "big.safetensors", length))
    before = anonymous_bytes()
    write_irpa(tmp_path / "big.irpa", source)
    after = anonymous_bytes()
    assert after - before < RSS_ALLOWANCE, f"anonymous RSS grew by {(after - before) >> 20} MiB"
    written = load_parameter_file(tmp_path / "big.irpa").lookup("", "big")
    assert written.length == length and written.offset % 64 == 0


# --------------------------------------------------------------------------
# Bad files: a VMError naming the file (and the key where known)
# --------------------------------------------------------------------------


def small_irpa(tmp_path) -> tuple[Path, bytes]:
    index = ParameterIndex()
    index.add_array("", "alpha", numpy.arange(6, dtype=numpy.float32))
    index.add_splat("", "beta", b"\1\2", 8, "<test>")
    index.add_array("", "gamma", numpy.arange(3, dtype=numpy.int16))
    path = tmp_path / "small.irpa"
    write_irpa(path, index)
    return path, path.read_bytes()


# Offsets in small_irpa's layout: header at 0, entries at 96 (alpha: data),
# 176 (beta: splat), 272 (gamma: data); names "alphabetagamma" after them.
ENTRY = {"alpha": 96, "beta": 176, "gamma": 272}


def patch(data: bytes, offset: int, fmt: str, *values) -> bytes:
    buffer = bytearray(data)
    struct.pack_into(fmt, buffer, offset, *values)
    return bytes(buffer)


IRPA_CASES = {
    # name: (mutation of the file bytes, status, fragments of the message)
    "truncated header": (lambda b: b[:40], StatusCode.INVALID_ARGUMENT, ["88 bytes"]),
    "truncated prefix": (lambda b: b[:20], StatusCode.INVALID_ARGUMENT, ["truncated"]),
    "truncated storage": (lambda b: b[:400], StatusCode.INVALID_ARGUMENT, ["storage segment"]),
    "bad magic": (lambda b: b"IRPB" + b[4:], StatusCode.INVALID_ARGUMENT, ["magic"]),
    "newer version": (lambda b: patch(b, 4, "<HH", 0, 1), StatusCode.UNIMPLEMENTED, ["0.1"]),
    "header size lies": (lambda b: patch(b, 8, "<Q", 4096), StatusCode.INVALID_ARGUMENT,
                         ["4096"]),
    "next header outside": (lambda b: patch(b, 16, "<Q", 1 << 20), StatusCode.INVALID_ARGUMENT,
                            ["linked header"]),
    "entry table outside": (lambda b: patch(b, 48, "<Q", 1 << 62), StatusCode.INVALID_ARGUMENT,
                            ["entry table"]),
    "metadata outside": (lambda b: patch(b, 56, "<Q", 2**64 - 1), StatusCode.INVALID_ARGUMENT,
                         ["metadata segment"]),
    "storage segment outside": (lambda b: patch(b, 72, "<Q", 2**64 - 1),
                                StatusCode.INVALID_ARGUMENT, ["storage segment"]),
    "more entries than the table": (lambda b: patch(b, 32, "<Q", 4), StatusCode.INVALID_ARGUMENT,
                                    ["entry table truncated", "entry 3 of 4"]),
    "entry size too small": (lambda b: patch(b, ENTRY["beta"], "<Q", 8),
                             StatusCode.INVALID_ARGUMENT, ["entry 1", "8 bytes"]),
    "entry size past the table": (lambda b: patch(b, ENTRY["gamma"], "<Q", 10_000),
                                  StatusCode.INVALID_ARGUMENT, ["entry 2", "10000"]),
    "name outside metadata": (lambda b: patch(b, ENTRY["alpha"] + 20, "<QQ", 10, 1000),
                              StatusCode.INVALID_ARGUMENT, ["entry 0", "name", "metadata segment"]),
    "data outside storage": (lambda b: patch(b, ENTRY["gamma"] + 60, "<QQ", 64, 2**63),
                             StatusCode.INVALID_ARGUMENT, ["::gamma", "storage"]),
    "data offset wraps": (lambda b: patch(b, ENTRY["alpha"] + 60, "<QQ", 2**64 - 8, 16),
                          StatusCode.INVALID_ARGUMENT, ["::alpha", "storage"]),
    "splat too short": (lambda b: patch(b, ENTRY["beta"], "<Q", 80), StatusCode.INVALID_ARGUMENT,
                        ["::beta", "85"]),
    "splat pattern too long": (lambda b: patch(b, ENTRY["beta"] + 84, "<B", 17),
                               StatusCode.INVALID_ARGUMENT, ["::beta", "17-byte"]),
    "splat pattern empty": (lambda b: patch(b, ENTRY["beta"] + 84, "<B", 0),
                            StatusCode.INVALID_ARGUMENT, ["::beta", "0-byte"]),
    "splat length not a multiple": (lambda b: patch(b, ENTRY["beta"] + 60, "<Q", 9),
                                    StatusCode.INVALID_ARGUMENT, ["::beta", "9 bytes"]),
    "data entry too short": (lambda b: patch(b, ENTRY["gamma"], "<Q", 70),
                             StatusCode.INVALID_ARGUMENT, ["::gamma", "76"]),
    "external entry": (lambda b: patch(b, ENTRY["gamma"] + 8, "<I", 3), StatusCode.UNIMPLEMENTED,
                       ["::gamma", "external"]),
    "unknown entry type": (lambda b: patch(b, ENTRY["gamma"] + 8, "<I", 9),
                           StatusCode.UNIMPLEMENTED, ["::gamma", "type 9"]),
    "duplicate key": (lambda b: patch(b, ENTRY["gamma"] + 20, "<QQ", 0, 5),
                      StatusCode.ALREADY_EXISTS, ["::alpha"]),
    "name not utf-8": (lambda b: b.replace(b"alphabeta", b"alph\xffbeta"),
                       StatusCode.INVALID_ARGUMENT, ["UTF-8"]),
}


@pytest.mark.parametrize("case", list(IRPA_CASES))
def test_bad_irpa(tmp_path, case):
    path, original = small_irpa(tmp_path)
    mutate, status, fragments = IRPA_CASES[case]
    path.write_bytes(mutate(original))
    assert_vmerror(lambda: load_parameter_file(path), status, path, *fragments)


def test_irpa_skip_entries_and_overlapping_entries_read_as_iree_reads_them(tmp_path):
    path, original = small_irpa(tmp_path)
    mutated = patch(original, ENTRY["beta"] + 8, "<I", 0)                   # beta: SKIP
    mutated = patch(mutated, ENTRY["gamma"] + 60, "<QQ", 8, 16)              # gamma overlaps alpha
    path.write_bytes(mutated)
    entries = ours(path)
    assert set(entries) == {"alpha", "gamma"}
    assert entries == theirs(path)


def safetensors_case(tmp_path, header) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(64))
    return path


GOOD = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}

SAFETENSORS_CASES = {
    "unknown dtype": ({"w": {**GOOD, "dtype": "F33"}}, StatusCode.INVALID_ARGUMENT,
                      ["'w'", "F33"]),
    "shape and length differ": ({"w": {**GOOD, "shape": [2, 3]}}, StatusCode.INVALID_ARGUMENT,
                                ["'w'", "24 bytes", "hold 16"]),
    "huge shape": ({"w": {**GOOD, "shape": [2**62, 2**62, 2**62]}}, StatusCode.INVALID_ARGUMENT,
                   ["'w'", "more bytes"]),
    "offsets past the data": ({"w": {**GOOD, "data_offsets": [60, 76]}},
                              StatusCode.INVALID_ARGUMENT, ["'w'", "[60, 76)", "64 bytes"]),
    "begin after end": ({"w": {**GOOD, "data_offsets": [16, 0]}}, StatusCode.INVALID_ARGUMENT,
                        ["'w'"]),
    "three offsets": ({"w": {**GOOD, "data_offsets": [0, 16, 32]}},
                      StatusCode.INVALID_ARGUMENT, ["'w'", "data_offsets"]),
    "negative offset": ({"w": {**GOOD, "data_offsets": [-16, 0]}},
                        StatusCode.INVALID_ARGUMENT, ["'w'"]),
    "float shape": ({"w": {**GOOD, "shape": [2.0, 2]}}, StatusCode.INVALID_ARGUMENT, ["'w'"]),
    "bool shape": ({"w": {**GOOD, "shape": [True, 16]}}, StatusCode.INVALID_ARGUMENT, ["'w'"]),
    "not an object": ({"w": [1, 2]}, StatusCode.INVALID_ARGUMENT, ["'w'"]),
    "header is a list": ([GOOD], StatusCode.INVALID_ARGUMENT, ["list"]),
    "not json": (b'{"w": {"dtype": "F32",', StatusCode.INVALID_ARGUMENT, ["JSON"]),
    "not utf-8": (b'{"w\xff": 1}', StatusCode.INVALID_ARGUMENT, ["UTF-8"]),
    "too deep": (b"[" * 100_000 + b"]" * 100_000, StatusCode.INVALID_ARGUMENT, ["deep"]),
    "too many digits": (b'{"w": {"dtype": "F32", "shape": [' + b"9" * 5000 + b"]}}",
                        StatusCode.INVALID_ARGUMENT, ["JSON"]),
    "duplicate key": (b'{"w": %s, "w": %s}' % ((json.dumps(GOOD).encode(),) * 2),
                      StatusCode.ALREADY_EXISTS, ["'w'"]),
    "sub-byte remainder": ({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}},
                           StatusCode.INVALID_ARGUMENT, ["'w'"]),
}


@pytest.mark.parametrize("case", list(SAFETENSORS_CASES))
def test_bad_safetensors(tmp_path, case):
    header, status, fragments = SAFETENSORS_CASES[case]
    path = safetensors_case(tmp_path, header)
    assert_vmerror(lambda: load_parameter_file(path), status, path, *fragments)


def test_safetensors_sub_byte_and_empty_headers(tmp_path):
    path = safetensors_case(tmp_path, {"w": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]},
                                       "__metadata__": {"x": "y"}})
    assert ours(path) == {"w": (2, bytes(2), None, b"")}
    assert ours(safetensors_case(tmp_path, {})) == {}


@pytest.mark.parametrize("contents, fragments", [
    (b"", ["too short"]),
    (b"\x10\0\0\0", ["too short"]),
    (struct.pack("<Q", 1000) + b"{}", ["1000 bytes", "only 2"]),
    (struct.pack("<Q", 2**64 - 1) + b"{}", ["only 2"]),
])
def test_truncated_safetensors(tmp_path, contents, fragments):
    path = tmp_path / "short.safetensors"
    path.write_bytes(contents)
    assert_vmerror(lambda: load_parameter_file(path), StatusCode.INVALID_ARGUMENT, path, *fragments)


def small_gguf(tmp_path) -> tuple[Path, bytes]:
    gguf = gguf_package()
    path = write_gguf(tmp_path / "small.gguf", {
        "alpha": numpy.arange(6, dtype=numpy.float32),
        "gamma": numpy.arange(4, dtype=numpy.float16),
        "q": (numpy.arange(34, dtype=numpy.uint8).reshape(1, 34), gguf.GGMLQuantizationType.Q8_0),
    })
    return path, path.read_bytes()


def tensor_field(data: bytes, name: bytes, field: str) -> int:
    """Where a field of the tensor info of ``name`` (a 1-D tensor) is."""
    start = data.index(struct.pack("<Q", len(name)) + name)
    return start + 8 + len(name) + {"dimensions": 0, "type": 4 + 8, "offset": 4 + 8 + 4}[field]


GGUF_CASES = {
    "truncated in the magic": (lambda b: b[:3], StatusCode.INVALID_ARGUMENT, ["truncated"]),
    "truncated in the header": (lambda b: b[:60], StatusCode.INVALID_ARGUMENT, ["truncated"]),
    "truncated in the data": (lambda b: b[:-40], StatusCode.INVALID_ARGUMENT, []),
    "bad magic": (lambda b: b"GGUX" + b[4:], StatusCode.INVALID_ARGUMENT, ["GGUF"]),
    "version 1": (lambda b: patch(b, 4, "<I", 1), StatusCode.UNIMPLEMENTED, ["version 1"]),
    "big-endian": (lambda b: patch(b, 4, ">I", 3), StatusCode.UNIMPLEMENTED, ["big-endian"]),
    "tensor count lies": (lambda b: patch(b, 8, "<Q", 2**40), StatusCode.INVALID_ARGUMENT,
                          ["truncated"]),
    "metadata count lies": (lambda b: patch(b, 16, "<Q", 2**63), StatusCode.INVALID_ARGUMENT,
                            ["truncated"]),
    "huge array": (lambda b: b.replace(struct.pack("<IQ", 5, 3), struct.pack("<IQ", 5, 2**60), 1),
                   StatusCode.INVALID_ARGUMENT, ["test.list"]),
    "string length lies": (lambda b: b.replace(struct.pack("<Q", 7) + b"weights",
                                               struct.pack("<Q", 2**62) + b"weights"),
                           StatusCode.INVALID_ARGUMENT, ["test.name"]),
    "unknown value type": (lambda b: b.replace(b"test.count" + struct.pack("<I", 4),
                                               b"test.count" + struct.pack("<I", 77)),
                           StatusCode.INVALID_ARGUMENT, ["test.count", "77"]),
    "unknown tensor type": (lambda b: patch(b, tensor_field(b, b"gamma", "type"), "<I", 250),
                            StatusCode.INVALID_ARGUMENT, ["'gamma'", "250"]),
    "tensor offset outside": (lambda b: patch(b, tensor_field(b, b"gamma", "offset"), "<Q", 2**40),
                              StatusCode.INVALID_ARGUMENT, []),
    "dimension count lies": (lambda b: patch(b, tensor_field(b, b"alpha", "dimensions"), "<I",
                                             2**31),
                             StatusCode.INVALID_ARGUMENT, ["'alpha'"]),
    "duplicate tensor": (lambda b: b.replace(b"gamma", b"alpha"), StatusCode.ALREADY_EXISTS,
                         ["'alpha'"]),
    "alignment not a power of two": (lambda b: b.replace(
        struct.pack("<Q", 10) + b"test.count", struct.pack("<Q", 17) + b"general.alignment"),
        StatusCode.INVALID_ARGUMENT, ["alignment"]),
    "duplicate metadata key": (lambda b: b.replace(b"test.name", b"test.list"),
                               StatusCode.INVALID_ARGUMENT, ["test.list"]),
    "alignment zero": (lambda b: b.replace(
        struct.pack("<Q", 10) + b"test.count" + struct.pack("<II", 4, 7),
        struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<II", 4, 0)),
        StatusCode.INVALID_ARGUMENT, ["alignment"]),
}


@pytest.mark.parametrize("case", list(GGUF_CASES))
def test_bad_gguf(tmp_path, case):
    path, original = small_gguf(tmp_path)
    mutate, status, fragments = GGUF_CASES[case]
    mutated = mutate(original)
    assert mutated != original, "the mutation did not apply"
    path.write_bytes(mutated)
    assert_vmerror(lambda: load_parameter_file(path), status, path, *fragments)


# --------------------------------------------------------------------------
# Fuzzing the headers
# --------------------------------------------------------------------------


class Watchdog(BaseException):
    pass


@contextlib.contextmanager
def watchdog(seconds: float):
    """Fails (instead of hanging) if the block runs longer than ``seconds``."""
    if (not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def expire(signum, frame):
        raise Watchdog()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Watchdog:
        pytest.fail(f"reading the mutated file took more than {seconds:g} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


INTERESTING_U64 = [0, 1, 2, 7, 8, 16, 60, 64, 76, 85, 88, 96, 4095, 4096, 2**31, 2**32 - 1,
                   2**63, 2**64 - 1, 2**64 - 8]


def mutations(length: int, hot: int):
    """Byte flips and 8-byte overwrites, mostly in the first ``hot`` bytes
    (the header), plus an optional truncation."""
    position = st.one_of(st.integers(0, max(hot - 1, 0)), st.integers(0, length - 1))
    byte = st.tuples(st.just("byte"), position, st.integers(0, 255))
    word = st.tuples(st.just("u64"), position,
                     st.one_of(st.sampled_from(INTERESTING_U64), st.integers(0, 2**64 - 1),
                               st.integers(0, 2 * length)))
    return st.tuples(st.lists(st.one_of(byte, word), min_size=1, max_size=6),
                     st.one_of(st.none(), st.integers(0, length)))


def apply(original: bytes, mutation) -> bytes:
    edits, cut = mutation
    data = bytearray(original)
    for kind, position, value in edits:
        if kind == "byte":
            data[position] = value
        elif position + 8 <= len(data):
            struct.pack_into("<Q", data, position, value)
    return bytes(data if cut is None else data[:cut])


_names = itertools.count()


def check_mutated(directory: Path, suffix: str, contents: bytes, *,
                  differential: bool = False) -> None:
    """Reading ``contents`` gives a VMError naming the file, or entries that
    all lie in the file and hold its bytes; with ``differential``, IREE's
    runtime then reads the same entries and bytes (IREE is laxer, not
    stricter, for .irpa and .safetensors: whatever we accept, it accepts)."""
    path = directory / f"fuzz{next(_names)}{suffix}"
    path.write_bytes(contents)
    try:
        with watchdog(20.0):
            index = load_parameter_file(path)
    except VMError as error:
        note(f"VMError: {error}")
        event(f"VMError {error.status.name}")
        assert str(path) in error.message
        return
    event(f"read {len(index)} entries")
    size = len(contents)
    for entry in index:
        if entry.is_splat:
            assert 1 <= len(entry.pattern) <= 16 and entry.length % len(entry.pattern) == 0
            continue
        assert entry.offset is not None and 0 <= entry.offset
        assert entry.offset + entry.length <= size
        assert entry.data.shape == (entry.length,) and not entry.data.flags.writeable
        assert bytes(entry.data) == contents[entry.offset:entry.offset + entry.length]
    if differential:
        expected = {entry.key: (entry.length, None if entry.is_splat else bytes(entry.data),
                                entry.pattern, entry.metadata) for entry in index}
        assert theirs(path) == expected


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def irpa_original(fuzz_dir) -> bytes:
    return small_irpa(fuzz_dir)[1]


@pytest.fixture(scope="module")
def safetensors_original(fuzz_dir) -> bytes:
    return safetensors_sample(fuzz_dir / "seed.safetensors").read_bytes()


@pytest.fixture(scope="module")
def gguf_original(fuzz_dir) -> bytes:
    return small_gguf(fuzz_dir)[1]


def test_fuzz_irpa(fuzz_dir, irpa_original):
    @settings(**FUZZ_SETTINGS)
    @given(mutations(len(irpa_original), 400))
    def run(mutation):
        check_mutated(fuzz_dir, ".irpa", apply(irpa_original, mutation), differential=True)
    run()


def safetensors_mutations(original: bytes, *, moves_only: bool = False):
    """Files whose JSON header has fields replaced by edge values (what byte
    flips rarely reach: they mostly break the JSON), a length that may lie,
    and contents that may be cut short; with ``moves_only``, well-formed
    headers whose tensors only move (overlapping, leaving gaps, or falling
    outside the data)."""
    (header_length,) = struct.unpack_from("<Q", original)
    header = json.loads(original[8:8 + header_length])
    contents = original[8 + header_length:]
    names = [name for name in header if name != "__metadata__"]
    number = st.one_of(st.integers(-2, len(contents) + 8),
                       st.sampled_from([2**31, 2**63, 2**64 - 1, 2**64, 10**30]))
    value = {
        "dtype": st.one_of(st.sampled_from(["F32", "F16", "I8", "BOOL", "F4", "C64", "F33", "",
                                            "f32"]), number, st.none()),
        "shape": st.one_of(st.lists(number, max_size=4), number, st.text(max_size=2)),
        "data_offsets": st.one_of(st.lists(number, min_size=1, max_size=3), number),
    }
    value["shift"] = st.integers(-8, 24)  # move a tensor: overlaps, gaps, or out of range
    fields = ["shift"] if moves_only else sorted(value)
    edit = st.sampled_from(fields).flatmap(
        lambda field: st.tuples(st.sampled_from(names), st.just(field), value[field]))

    def build(edits, length_lie, cut):
        mutated = json.loads(json.dumps(header))
        for name, field, new in edits:
            if field == "shift":
                offsets = mutated[name]["data_offsets"]
                if isinstance(offsets, list) and all(isinstance(o, int) for o in offsets):
                    mutated[name]["data_offsets"] = [o + new for o in offsets]
            else:
                mutated[name][field] = new
        raw = json.dumps(mutated).encode()
        data = struct.pack("<Q", max(len(raw) + length_lie, 0)) + raw + contents
        return data if cut is None else data[:len(data) - cut]

    if moves_only:
        return st.builds(build, st.lists(edit, min_size=1, max_size=4), st.just(0), st.none())
    return st.builds(build, st.lists(edit, min_size=1, max_size=4),
                     st.sampled_from([0, 0, 0, 0, -1, 1, 7, 2**20]),
                     st.one_of(st.none(), st.integers(0, len(contents) + 4)))


def test_fuzz_safetensors(fuzz_dir, safetensors_original):
    (header_length,) = struct.unpack_from("<Q", safetensors_original)
    flips = mutations(len(safetensors_original), 8 + header_length).map(
        lambda mutation: apply(safetensors_original, mutation))

    @settings(**FUZZ_SETTINGS)
    @given(st.one_of(flips, safetensors_mutations(safetensors_original),
                     safetensors_mutations(safetensors_original, moves_only=True)))
    def run(contents):
        check_mutated(fuzz_dir, ".safetensors", contents, differential=True)
    run()


def test_fuzz_gguf(fuzz_dir, gguf_original):
    @settings(**FUZZ_SETTINGS)
    @given(mutations(len(gguf_original), len(gguf_original) - 64))
    def run(mutation):
        check_mutated(fuzz_dir, ".gguf", apply(gguf_original, mutation))
    run()
