"""Hostile input: mutated and truncated .vmfb bytes load and run to a right
answer or a VMError — never another exception, a hang or a crash.

Every call runs with the VM's own deadline (``invoke(..., timeout=CALL_TIMEOUT)``)
and every run under a hard watchdog. The fuzz target's functions are short
loops bounded by their arguments, so a call that misses its deadline is a
finding: the test fails naming the mutation and the instructions it
changed — unless IREE's own runtime, given the same mutated program, does
not finish the call either. Mutated bytecode makes real endless loops now
and then (a loop counter incremented into the wrong register, ``add``
turned into ``and``, a branch that tests a constant); for those the
DEADLINE_EXCEEDED is the right answer. If even the deadline does not fire
(the VM is frozen and never reaches a suspension point), the watchdog fails
the test. Examples are derandomized, so CI runs the same ones every time.
"""

from __future__ import annotations

import contextlib
import difflib
import faulthandler
import importlib.util
import queue
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, note, settings
from hypothesis import strategies as st

import asyncvm
from asyncvm.vm import StatusCode, VMError
from asyncvm.modules.bytecode import BytecodeModule
from asyncvm.modules.bytecode._disassembler import disassemble_function, dump_module
from asyncvm.modules.bytecode._module_definition import split_archive

CALLS = [("tick", (5,)), ("mix", (10, 2.0)), ("listy", (10,))]

CALL_TIMEOUT = 1.0
"""The VM's deadline for one call (seconds); unmutated calls take well under
a millisecond."""

WATCHDOG_SECONDS = 15.0 + len(CALLS) * CALL_TIMEOUT
"""A whole run (load and every call) past this means the VM's deadline did not fire."""

REFERENCE_TIMEOUT = 1.5
"""How long IREE's runtime gets for a call that missed its deadline in asyncvm
before the call counts as an endless loop the mutation made (IREE runs these
calls in microseconds)."""

REFERENCE_START_TIMEOUT = 120.0
"""For IREE's child process to start and load the program (not counted above)."""

TESTS_DIR = Path(__file__).resolve().parents[1]

FUZZ_SETTINGS = dict(deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def original(compile_mlir) -> bytes:
    return compile_mlir("fuzz_target.mlir").read_bytes()


@pytest.fixture(scope="module")
def expected(original) -> dict:
    async def collect():
        program = asyncvm.load(original)
        return {name: await program.invoke(name, *args) for name, args in CALLS}
    return anyio.run(collect)


class WatchdogExpired(BaseException):
    """Raised into the main thread by the watchdog's SIGALRM handler (a
    BaseException so that no ``except Exception`` on the way swallows it)."""


@contextlib.contextmanager
def watchdog(seconds: float, describe):
    """Fails the test if the block is still running after ``seconds``.

    SIGALRM interrupts the main thread between Python bytecodes, so this
    fires even when the event loop never gets control back. Where there is
    no SIGALRM (or off the main thread), faulthandler dumps every thread's
    stack and ends the process instead: still a failure, never a hang.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        faulthandler.dump_traceback_later(seconds, exit=True)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
        return
    fired = False

    def expire(signum, frame):
        nonlocal fired
        fired = True
        raise WatchdogExpired()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except BaseException:
        if fired:  # whatever surfaced (the event loop may have wrapped it)
            pytest.fail(f"watchdog: still running after {seconds:g} s although every call has a "
                        f"{CALL_TIMEOUT:g} s VM deadline — the VM is frozen; {describe()}",
                        pytrace=False)
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def describe_mutation(original: bytes, data: bytes, where: str = "") -> str:
    """The mutation as byte edits (``offset: old -> new``), to reproduce it,
    and the instructions it changed (a disassembly diff), to judge it: a
    loop whose exit can no longer be reached is the mutation's doing, a
    loop that should end but does not is a VM bug."""
    changed = [f"0x{i:x}: {a:#04x} -> {b:#04x}" for i, (a, b) in enumerate(zip(original, data))
               if a != b]
    if len(data) != len(original):
        changed.append(f"length {len(original)} -> {len(data)}")
    text = f"mutation {where}[" + ", ".join(changed or ["none"]) + "]"
    try:
        listings = [dump_module(BytecodeModule.load(d)).splitlines() for d in (original, data)]
    except Exception as error:  # a description must never hide the finding
        return f"{text}\n(no disassembly: {type(error).__name__}: {error})"
    diff = [line for line in difflib.unified_diff(*listings, lineterm="", n=1)
            if not line.startswith(("---", "+++"))]
    return f"{text}\nchanged instructions:\n  " + "\n  ".join(diff or ["(none)"])


class MissedDeadline(Exception):
    def __init__(self, index: int, error: VMError) -> None:
        super().__init__(str(error))
        self.index, self.error = index, error


def iree_runs_forever(data: bytes, calls: list, seconds: float) -> tuple[bool, str]:
    """Whether IREE's own runtime, running ``calls`` in order on ``data`` in
    a child process, is still in the last one ``seconds`` after starting it
    (the child is killed then). ``(True, ...)`` means the mutated program
    really never ends; otherwise the text says what IREE did instead.
    Starting the child and loading the program are not counted."""
    if importlib.util.find_spec("iree.runtime") is None:
        return False, "iree.runtime is not installed: cannot tell an endless loop from a VM bug"
    script = textwrap.dedent("""
        import ast, sys
        sys.path.insert(0, sys.argv[1])
        import _iree_reference as ref
        calls = ast.literal_eval(sys.argv[3])
        program = ref.IreeProgram(sys.argv[2])
        for name, args in calls[:-1]:
            try:
                program.invoke(name, *args)
            except ref.IreeError:
                pass
        print("started", flush=True)
        name, args = calls[-1]
        print("returned", program.invoke(name, *args), flush=True)
    """)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mutated.vmfb"
        path.write_bytes(data)
        command = [sys.executable, "-c", script, str(TESTS_DIR), str(path), repr(calls)]
        errors = (Path(directory) / "stderr").open("w+")  # a file: never a full pipe
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=errors, text=True)
        lines: queue.Queue = queue.Queue()

        def read() -> None:
            for line in child.stdout:
                lines.put(line.strip())
            lines.put(None)  # end of output

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        output = []
        try:
            while "started" not in output and None not in output:
                try:
                    output.append(lines.get(timeout=REFERENCE_START_TIMEOUT))
                except queue.Empty:
                    return False, (f"IREE's runtime did not even load the program within "
                                   f"{REFERENCE_START_TIMEOUT:g} s")
            try:
                child.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                return True, f"IREE's runtime was still in the call after {seconds:g} s"
        finally:
            child.kill()
            child.wait()
            reader.join()
            child.stdout.close()
            errors.seek(0)
            error = errors.read()
            errors.close()
    while not lines.empty():
        output.append(lines.get_nowait())
    if child.returncode == 0:
        returned = " ".join(line for line in output if line and line != "started")
        return False, f"IREE's runtime finished the call: {returned or '(no output)'}"
    return False, (f"IREE's runtime stopped with exit status {child.returncode}: "
                   f"{(error.strip().splitlines() or [''])[-1]}")


def run_all(data: bytes, backend: str, original: bytes, where: str = "",
            timeout: float = CALL_TIMEOUT, reference_timeout: float = REFERENCE_TIMEOUT) -> dict:
    """Loads and runs every call; returns results, or raises VMError.

    A call past its VM deadline (``timeout``) is a finding and fails the
    test, describing the mutation of ``original`` that ``data`` is
    (``where`` says which part was mutated) — unless IREE's own runtime
    is still in the same call ``reference_timeout`` seconds later: then
    the mutation made an endless loop, the deadline was the right
    answer, and the DEADLINE_EXCEEDED VMError is raised like any other.
    """
    current = ["loading"]

    async def body():
        program = asyncvm.load(data)
        results = {}
        for index, (name, args) in enumerate(CALLS):
            current[0] = f"{name}{args}"
            try:
                results[name] = await program.invoke(name, *args, timeout=timeout)
            except VMError as error:
                if error.status == StatusCode.DEADLINE_EXCEEDED:
                    raise MissedDeadline(index, error) from None
                raise
        return results

    try:
        with watchdog(WATCHDOG_SECONDS, lambda: f"in {current[0]} under {backend}; "
                      f"{describe_mutation(original, data, where)}"):
            return anyio.run(body, backend=backend)
    except MissedDeadline as missed:
        name, args = CALLS[missed.index]
        endless, verdict = iree_runs_forever(data, CALLS[:missed.index + 1], reference_timeout)
        if endless:
            if currently_in_test_context():
                event(f"the mutation made an endless loop in {name} (IREE agrees)")
                note(f"{name}{args}: {missed.error}; {verdict}")
            raise missed.error from None
        pytest.fail(f"{name}{args} ran past its {timeout:g} s deadline under {backend} "
                    f"({missed.error}), but {verdict}; "
                    f"{describe_mutation(original, data, where)}", pytrace=False)


mutations = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)),
                     min_size=1, max_size=8)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          **FUZZ_SETTINGS)
@given(edits=mutations, backend=st.sampled_from(["asyncio", "trio"]))
def test_mutated_bytes_give_answer_or_vm_error(original, expected, edits, backend):
    data = bytearray(original)
    for position, value in edits:
        data[position % len(data)] = value
    data = bytes(data)
    try:
        results = run_all(data, backend, original)
    except VMError:
        return
    if data == original:
        assert results == expected


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          **FUZZ_SETTINGS)
@given(cut=st.integers(min_value=0))
def test_truncated_bytes(original, expected, cut):
    """Cut inside the module: INVALID_ARGUMENT. Cut only from the ZIP trailer
    after it: the module is whole and still gives the right answers."""
    data = original[:cut % len(original)]
    flatbuffer, _ = split_archive(memoryview(original))
    module_end = original.find(bytes(flatbuffer)) + len(flatbuffer)
    if len(data) < module_end:
        with pytest.raises(VMError) as caught:
            BytecodeModule.load(data)
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
    else:
        assert run_all(data, "asyncio", original, "by truncation ") == expected


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          **FUZZ_SETTINGS)
@given(edits=mutations)
def test_mutated_bytecode_section(original, expected, edits):
    """Mutations aimed at the instruction stream, where the verifier must hold."""
    module = BytecodeModule.load(original)
    code = module.definition.bytecode
    start = bytes(original).find(code)
    assert start > 0
    data = bytearray(original)
    for position, value in edits:
        data[start + position % len(code)] = value
    data = bytes(data)
    try:
        run_all(data, "asyncio", original, f"of the bytecode at 0x{start:x}.. ")
    except VMError:
        pass


def test_garbage_is_rejected():
    for data in (b"", b"PK\x03\x04", b"\0" * 64, b"IREE" * 100):
        with pytest.raises(VMError):
            BytecodeModule.load(data)


def endless_loop_mutation(original: bytes) -> bytes:
    """``original`` with one byte changed so that ``mix``'s loop tests %i0 (its
    bound, 10: always true) instead of the comparison: a loop that never
    ends, the kind of mutation random fuzzing finds now and then (others:
    the increment stored to the wrong register, ``add`` turned into ``and``,
    the back edge aimed at the entry block)."""
    module = BytecodeModule.load(original)
    start = bytes(original).find(module.definition.bytecode)
    mix = module.function_names.index("mix")
    branch = next(d for d in module.instructions[mix] if d.instruction.mnemonic == "cond_br")
    data = bytearray(original)
    data[start + branch.pc + 1] = 0  # the condition register follows the opcode
    listing = disassemble_function(BytecodeModule.load(bytes(data)), mix)
    assert any(" vm.cond_br %i0 " in line for line in listing), \
        "the cond_br encoding changed:\n" + "\n".join(listing)
    return bytes(data)


def test_endless_loop_mutation_meets_the_deadline(original):
    """A real endless loop: the VM's deadline ends it, the program stays
    usable, IREE's runtime loops too, and so the fuzz run counts it as a
    VMError rather than a finding."""
    data = endless_loop_mutation(original)

    async def deadline_then_usable():
        program = asyncvm.load(data)
        with pytest.raises(VMError) as caught:
            await program.invoke("mix", 10, 2.0, timeout=0.2)
        assert caught.value.status == StatusCode.DEADLINE_EXCEEDED
        assert await program.invoke("tick", 5, timeout=5) == (5,)
    anyio.run(deadline_then_usable)

    with pytest.raises(VMError) as caught:
        run_all(data, "trio", original, timeout=0.2, reference_timeout=1)
    assert caught.value.status == StatusCode.DEADLINE_EXCEEDED


def test_missed_deadline_that_iree_finishes_is_a_finding(original, monkeypatch):
    """A call that misses its deadline in asyncvm but not in IREE (here the
    unmutated program, with a deadline forced) fails, naming the call."""
    invoke = asyncvm.Program.invoke

    async def slow_mix(self, name, *args, timeout=None):
        if name == "mix":
            raise VMError(StatusCode.DEADLINE_EXCEEDED, f"module.mix did not finish within {timeout} s")
        return await invoke(self, name, *args, timeout=timeout)

    monkeypatch.setattr(asyncvm.Program, "invoke", slow_mix)
    with pytest.raises(pytest.fail.Exception,
                       match=rf"(?s)mix\(10, 2\.0\) ran past its {CALL_TIMEOUT:g} s deadline under asyncio .*"
                             r"but IREE's runtime finished the call: returned \(.*mutation \[none\]"):
        run_all(original, "asyncio", original)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the SIGALRM watchdog is POSIX-only")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_watchdog_fails_a_frozen_run(backend):
    async def frozen():
        while True:  # never reaches a checkpoint: no cancel scope can fire
            pass

    with pytest.raises(pytest.fail.Exception, match="the VM is frozen; in frozen"):
        with watchdog(0.2, lambda: "in frozen"):
            anyio.run(frozen, backend=backend)
