"""Profiles (``asyncvm._profile``): time per exported function, import and
dispatch, as a table, CSV and JSON, in traces, and ``asyncvm benchmark --profile``.

tests/programs/profile_work.mlir runs three dispatches per call (a matmul,
an elementwise step, a row reduction); on VMVX a call takes several
milliseconds, enough to compare the profile with a stopwatch.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import time

import numpy
import pytest
from _command_line import run_cli

import asyncvm
from asyncvm._instrument import InstrumentKind, install_instrument
from asyncvm._profile import ProfileReport, profile
from asyncvm.vm import StatusCode, VMError, tracing

pytestmark = pytest.mark.anyio

BUILDS = {"vmvx": (),
          "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                       "--iree-llvmcpu-target-cpu=generic")}
RANDOM = numpy.random.default_rng(11)
A = RANDOM.standard_normal((16, 16)).astype(numpy.float32)
B = RANDOM.standard_normal((16, 16)).astype(numpy.float32)


@pytest.fixture(scope="module", params=sorted(BUILDS))
def work_program(request, compile_mlir):
    return compile_mlir("profile_work.mlir", *BUILDS[request.param])


@pytest.fixture(scope="module")
def vmvx_work(compile_mlir):
    return compile_mlir("profile_work.mlir")


def check_answer(results):
    scaled, sums = results
    numpy.testing.assert_allclose(scaled, (A @ B) * A, rtol=1e-4, atol=1e-4)
    numpy.testing.assert_allclose(sums, scaled.sum(axis=1), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
async def test_every_dispatch_appears_with_its_calls_and_workgroups(work_program, device):
    program = asyncvm.load(work_program, device=device)
    check_answer(await program.invoke("work", A, B))
    calls = 3
    # The trace records every dispatch on its own path (the command buffer's
    # tracer events): the profile must agree with it.
    with tracing() as tracer, profile(program) as report:
        for _ in range(calls):
            check_answer(await program.invoke("work", A, B))
    traced = collections.defaultdict(list)
    for event in tracer.events:
        if event.get("cat") == "dispatch":
            traced[event["name"]].append(tuple(event["args"]["workgroups"]))
    assert len(traced) == 3
    assert [name.split("_dispatch_")[1].split("_")[1] for name in sorted(traced)] == \
        ["matmul", "elementwise", "reduction"]

    dispatch_rows = {row.name: row for row in report.rows_of("dispatch")}
    assert set(dispatch_rows) == set(traced)
    for name, counts in traced.items():
        row = dispatch_rows[name]
        assert row.calls == calls == len(counts)
        assert row.workgroup_counts == collections.Counter(counts)
        assert row.workgroup_count == counts[0]
        assert row.total_seconds > 0 and row.failed == row.skipped == 0
    matmul = next(row for name, row in dispatch_rows.items() if "matmul" in name)
    assert matmul.bytes_per_call == 3 * 16 * 16 * 4  # two inputs and the output

    function = report.row("module.work")
    assert function.kind == InstrumentKind.FUNCTION and function.calls == calls
    assert report.calls == calls and report.total_seconds == function.total_seconds
    imports = {row.name: row for row in report.rows_of("import")}
    assert imports["hal.buffer_view.create"].calls == 2 * calls
    assert sum(row.total_seconds for row in dispatch_rows.values()) <= function.total_seconds
    assert report.rows == sorted(report.rows, key=lambda row: -row.total_seconds)
    with pytest.raises(VMError) as caught:
        report.row("no_such_function")
    assert caught.value.status == StatusCode.NOT_FOUND
    await program.close()


async def test_totals_add_up_to_the_measured_call_time(vmvx_work):
    program = asyncvm.load(vmvx_work)
    check_answer(await program.invoke("work", A, B))

    async def measure() -> tuple[float, ProfileReport]:
        measured = 0.0
        with profile(program) as report:
            for _ in range(4):
                began = time.perf_counter()
                await program.invoke("work", A, B)
                measured += time.perf_counter() - began
        return measured, report

    for attempt in range(2):  # a shared machine may stall one attempt
        measured, report = await measure()
        if abs(report.total_seconds - measured) <= 0.1 * measured:
            break
    assert report.total_seconds == pytest.approx(measured, rel=0.1)
    assert report.total_seconds <= measured
    # Rows nest: dispatches run within their invocation; on local-sync a
    # dispatch longer than a time slice (the matmul here) goes on in later
    # slices of the loop, while the invocation awaits its fence, so the
    # import that executed it holds only its first slice.
    dispatches = sum(row.total_seconds for row in report.rows_of("dispatch"))
    executes = sum(row.total_seconds for row in report.rows_of("import")
                   if row.name.startswith("hal.device.queue.execute"))
    waits = report.row("hal.fence.await").total_seconds
    assert executes <= report.total_seconds
    assert dispatches <= executes + waits <= report.total_seconds
    assert dispatches >= 0.5 * report.total_seconds  # VMVX kernels are the work here


async def test_text_csv_and_json_formats_parse(vmvx_work):
    program = asyncvm.load(vmvx_work)
    with profile(program, title="work on VMVX") as report:
        for _ in range(2):
            await program.invoke("work", A, B)
    rows = report.rows

    table = report.table()
    assert str(report) == table and report.format("table") == table
    lines = table.splitlines()
    assert lines[0] == "work on VMVX"
    header, rule = lines[1], lines[2]
    assert header.split() == ["Name", "Kind", "Calls", "Total", "(ms)", "Mean", "(us)", "Share",
                              "Workgroups", "Bytes/call"]
    assert set(rule.replace(" ", "")) == {"-"} and lines[3 + len(rows)] == rule
    body = lines[3:3 + len(rows)]
    assert [line.split()[0] for line in body] == [row.name for row in rows]
    # Aligned: each column starts where the rule's dashes do.
    starts = [index for index, char in enumerate(rule) if char == "-" and
              (index == 0 or rule[index - 1] == " ")]
    calls_end = starts[3] - 2  # the Calls column is right-aligned before Total
    for line, row in zip(body, rows):
        assert line[:calls_end].rstrip().endswith(f" {row.calls}")
        assert line[starts[1]:].startswith(row.kind.value)
    total = lines[4 + len(rows)]
    assert total.split()[:3] == ["Total", "2", f"{report.total_seconds * 1e3:.3f}"]
    assert "100.0%" in total
    for line, row in zip(body, rows):
        if row.kind == "dispatch":
            assert "x".join(map(str, row.workgroup_count)) in line

    parsed = list(csv.DictReader(io.StringIO(report.csv())))
    assert [entry["name"] for entry in parsed] == [row.name for row in rows]
    for entry, row in zip(parsed, rows):
        assert entry["kind"] == row.kind.value and int(entry["calls"]) == row.calls
        assert float(entry["total_seconds"]) == pytest.approx(row.total_seconds, abs=1e-8)
        if row.kind == "dispatch":
            assert tuple(map(int, entry["workgroup_count"].split("x"))) == row.workgroup_count
    assert sum(float(entry["share"]) for entry in parsed if entry["kind"] == "function") \
        == pytest.approx(1.0)

    document = json.loads(report.json())
    assert document["calls"] == 2 and document["title"] == "work on VMVX"
    assert [entry["name"] for entry in document["rows"]] == [row.name for row in rows]
    dispatch = next(entry for entry in document["rows"] if entry["kind"] == "dispatch")
    assert len(dispatch["workgroup_count"]) == 3 and dispatch["bytes_bound_per_call"] > 0
    assert json.loads(report.format("json")) == json.loads(report.json())
    with pytest.raises(VMError) as caught:
        report.format("xml")
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


async def test_the_report_goes_into_the_trace(vmvx_work, tmp_path):
    program = asyncvm.load(vmvx_work)
    with tracing() as tracer:
        with profile(program) as report:
            await program.invoke("work", A, B)
    path = tmp_path / "trace.json"
    tracer.write(path)
    document = json.loads(path.read_text())
    stored = document["metadata"]["asyncvm.profile"]
    assert [row["name"] for row in stored["rows"]] == [row.name for row in report.rows]
    dispatch_events = [event for event in document["traceEvents"] if event["cat"] == "dispatch"]
    assert len(dispatch_events) == 3
    assert all(event["args"]["bytes_bound"] > 0 for event in dispatch_events)


async def test_profiles_coexist_with_an_instrument_and_leave_nothing_behind(vmvx_work):
    program = asyncvm.load(vmvx_work)
    await program.invoke("work", A, B)
    seen = []
    install_instrument(program, lambda event: seen.append(event.kind) if event.after else None)
    with profile(program) as outer:
        with profile(program) as inner:
            await program.invoke("work", A, B)
        await program.invoke("work", A, B)
    assert inner.calls == 1 and outer.calls == 2
    assert seen.count("function") == 2
    await program.invoke("work", A, B)
    assert seen.count("function") == 3 and outer.calls == 2  # finished reports stay put
    install_instrument(program, None)
    assert program.context.instrumentation is None and program.context._direct
    assert program.device.dispatch_hook is None


def test_benchmark_prints_the_profile(capsys, vmvx_work):
    arguments = [f"--module={vmvx_work}", "--function=work", "--input=16x16xf32=1",
                 "--input=16x16xf32=2", "--duration=0.2"]
    code, out, err = run_cli(capsys, "benchmark", *arguments, "--profile")
    assert code == 0, err
    lines = out.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("throughput:"))
    table = lines[start + 1:]
    assert table[0].startswith("profile of module.work on local-sync")
    assert table[1].split()[:3] == ["Name", "Kind", "Calls"]
    assert any(line.startswith("module.work ") for line in table)
    assert sum("dispatch" in line.split() for line in table) == 3
    assert any(line.startswith("Total ") for line in table)

    code, out, err = run_cli(capsys, "benchmark", *arguments, "--profile=json")
    assert code == 0, err
    document = json.loads(out[out.index("{"):])
    assert {row["kind"] for row in document["rows"]} == {"function", "import", "dispatch"}

    code, out, err = run_cli(capsys, "benchmark", *arguments, "--profile=csv")
    assert code == 0, err
    text = out[out.index("name,kind,calls"):]
    assert len([row for row in csv.DictReader(io.StringIO(text)) if row["kind"] == "dispatch"]) == 3
