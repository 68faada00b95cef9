"""Fuzzing at scale: mutated programs, parameter files and request bodies.

    python bench/fuzz.py [--inputs N] [--seed S] [--jobs J] [--deadline SECONDS]
        [--targets host,vmvx,llvm-cpu,elf,parameters,requests] [--only I ...]
        [--report FILE]

Builds the seed inputs once with ``iree-compile`` (and IREE's runtime and
the ``gguf`` package for parameter files), then J worker processes share the
N inputs. Input ``i`` is a pure function of ``(S, i)``: its target (round
robin over the targets), driver (``local-sync`` / ``local-task``, alternating
per round), and 1 to 4 mutations (bit flips, stores of interesting bytes,
truncation, a duplicated or deleted span, a splice with another seed), so
``--only I`` replays one input exactly. The event loop alternates between
asyncio and trio per batch of inputs.

Targets:

* ``host``: tests/programs/fuzz_target.mlir (host code: loops, lists,
  globals), loaded and each function called.
* ``vmvx``: bench/fuzz_tensor.mlir built for VMVX (a dense layer over a
  dynamic batch, a loop whose trip count is an input, a reduction).
* ``llvm-cpu``: the same program built for llvm-cpu, embedded ELF. The
  bytes of the embedded ELF are never mutated here: a changed machine
  instruction is arbitrary code, which no runtime can make safe (asyncvm
  treats a ``.vmfb`` as code, as IREE does). Everything around it is: the
  FlatBuffer, the host bytecode, the executable's metadata. Every mutant is
  loaded (parsed, verified, translated); it is run only when its host code
  (bytecode, function table, rodata, imports, signatures) is unchanged.
  Host code computes the sizes, offsets and workgroup counts native kernels
  trust, and kernels do not check bounds: changed host code can make a
  kernel write out of bounds in any runtime (outcome ``loaded (host code
  changed, not run)``).
* ``elf``: the embedded ELF alone, mutated, through everything the loader
  does before it first runs the library's code: the layout checks, the
  mapping of segments, relocations and the symbol lookup.
* ``parameters``: tests/programs/parameters_mlp.mlir with its ``model``
  scope in a mutated ``.irpa``, ``.safetensors`` or ``.gguf`` file.
* ``requests``: mutated bodies (JSON, and the binary tensor extension with
  its header length) sent to ``asyncvm serve``'s application in process.

Every call runs under ``timeout=DEADLINE`` and a device memory limit
(64 MiB). The outcome of an input is ``ran``, ``VMError <STATUS>`` (the
first error it met), ``HTTP <code>`` for requests, ``other <type>`` for any
other exception (a finding, printed with its input number), ``crash`` (the
worker process died: the input it was running is printed) or ``missed
deadline``: the input took more than its calls' deadlines plus
``--slack`` seconds (also when the worker stopped answering and was
killed). A worker that crashed or hung is replaced and goes on with the
next input.

The test-suite runs a small fixed-seed slice (tests/bytecode/test_fuzz_bench.py).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import pathlib
import random
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
PROGRAMS = HERE.parent / "tests" / "programs"
TARGETS = ("host", "vmvx", "llvm-cpu", "elf", "parameters", "requests")
DRIVERS = ("local-sync", "local-task")
MEMORY_LIMIT = 64 << 20
BATCH = 200
"""Inputs per event loop run in a worker (the loop alternates per batch)."""

HOST_CALLS = [("tick", (5,)), ("mix", (10, 2.0)), ("listy", (10,))]
PARAMETER_FORMATS = ("irpa", "safetensors", "gguf")
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x40)
HOST_FLAGS = ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=vmvx"]
LLVM_CPU_FLAGS = ["--iree-hal-target-device=local",
                  "--iree-hal-local-target-device-backends=llvm-cpu",
                  "--iree-llvmcpu-target-cpu=generic"]


# -- seeds ------------------------------------------------------------------------------------

def _compile(source: pathlib.Path, flags: list[str], output: pathlib.Path) -> bytes:
    from iree.compiler.tools import binaries

    command = [binaries.find_tool("iree-compile"), str(source), *flags, "-o", str(output)]
    subprocess.run(command, check=True, timeout=300)
    return output.read_bytes()


def elf_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the embedded ELF image inside a ``.vmfb``."""
    start = data.find(b"\x7fELF")
    if start < 0:
        raise SystemExit("the llvm-cpu build has no embedded ELF")
    (program_offset,) = struct.unpack_from("<Q", data, start + 0x20)
    (section_offset,) = struct.unpack_from("<Q", data, start + 0x28)
    program_size, program_count, section_size, section_count = struct.unpack_from(
        "<HHHH", data, start + 0x36)
    end = section_offset + section_size * section_count
    end = max(end, program_offset + program_size * program_count)
    for index in range(program_count):
        entry = start + program_offset + index * program_size
        _, _, offset, _, _, file_size, _, _ = struct.unpack_from("<IIQQQQQQ", data, entry)
        end = max(end, offset + file_size)
    return start, start + end


def _mlp_parameters():
    import numpy

    random_numbers = numpy.random.default_rng(11)
    return {
        "model": {"weight": random_numbers.standard_normal((4, 8)).astype(numpy.float32),
                  "bias": random_numbers.standard_normal(8).astype(numpy.float32)},
        "extra": {"scale": random_numbers.standard_normal(8).astype(numpy.float32)},
        "": {"offset": random_numbers.integers(-5, 5, 8).astype(numpy.int32)},
    }


def _write_irpa(path: pathlib.Path, arrays: dict) -> None:
    import iree.runtime as runtime

    index = runtime.ParameterIndex()
    for key, value in arrays.items():
        index.add_buffer(key, value)
    index.create_archive_file(str(path))


def _write_safetensors(path: pathlib.Path, arrays: dict) -> None:
    header, blobs, offset = {}, [], 0
    for key, value in arrays.items():
        blob = value.tobytes()
        header[key] = {"dtype": {"float32": "F32", "int32": "I32"}[value.dtype.name],
                       "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _write_gguf(path: pathlib.Path, arrays: dict) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), "asyncvm-fuzz")
    for key, value in arrays.items():
        writer.add_tensor(key, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def build_seeds(directory: pathlib.Path) -> pathlib.Path:
    """Compiles and writes every seed into ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    _compile(PROGRAMS / "fuzz_target.mlir", HOST_FLAGS, directory / "host.vmfb")
    _compile(HERE / "fuzz_tensor.mlir", HOST_FLAGS, directory / "vmvx.vmfb")
    native = _compile(HERE / "fuzz_tensor.mlir", LLVM_CPU_FLAGS, directory / "llvm-cpu.vmfb")
    start, end = elf_span(native)
    (directory / "elf.bin").write_bytes(native[start:end])
    _compile(PROGRAMS / "parameters_mlp.mlir", HOST_FLAGS, directory / "mlp.vmfb")
    scopes = _mlp_parameters()
    writers = {"irpa": _write_irpa, "safetensors": _write_safetensors, "gguf": _write_gguf}
    for format_name, write in writers.items():
        write(directory / f"model.{format_name}", scopes["model"])
    _write_irpa(directory / "extra.irpa", scopes["extra"])
    _write_irpa(directory / "default.irpa", scopes[""])
    return directory


# -- mutations --------------------------------------------------------------------------------

def mutate(data: bytes, rng: random.Random, others: list[bytes],
           protected: tuple[int, int] | None = None) -> tuple[bytes, list[str]]:
    """``data`` with 1 to 4 mutations; returns the bytes and what was done.
    Bytes in ``protected`` [start, end) keep their values (the span may move
    or be cut by a truncation, never rewritten; no splice or span edit then)."""
    buffer = bytearray(data)
    done = []

    def position() -> int:
        while True:
            at = rng.randrange(len(buffer))
            if protected is None or not protected[0] <= at < protected[1]:
                return at

    kinds = ["flip", "flip", "store", "store", "store", "truncate"]
    if protected is None:
        kinds += ["splice", "duplicate", "delete"]
    for _ in range(rng.choice((1, 1, 1, 1, 2, 2, 3, 4))):
        if not buffer:
            break
        kind = rng.choice(kinds)
        if kind == "flip":
            at = position()
            bit = rng.randrange(8)
            buffer[at] ^= 1 << bit
            done.append(f"flip {at}:{bit}")
        elif kind == "store":
            at = position()
            value = rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
            buffer[at] = value
            done.append(f"store {at}={value:#04x}")
        elif kind == "truncate":
            at = rng.randrange(len(buffer))
            del buffer[at:]
            done.append(f"truncate {at}")
            if protected is not None and at < protected[1]:
                protected = (protected[0], at)
        elif kind == "splice":
            other = rng.choice(others)
            cut, other_cut = rng.randrange(len(buffer)), rng.randrange(len(other))
            buffer = buffer[:cut] + bytearray(other[other_cut:])
            done.append(f"splice {cut}<-{other_cut}")
        elif kind == "duplicate":
            at = rng.randrange(len(buffer))
            length = rng.randint(1, 64)
            buffer[at:at] = buffer[at:at + length]
            done.append(f"duplicate {at}+{length}")
        else:
            at = rng.randrange(len(buffer))
            length = rng.randint(1, 64)
            del buffer[at:at + length]
            done.append(f"delete {at}+{length}")
    return bytes(buffer), done


def plan(seed: int, index: int, targets: tuple[str, ...]) -> tuple[str, str, random.Random]:
    """Input ``index``'s target, driver and random stream."""
    rng = random.Random(seed * 1_000_003 + index)
    target = targets[index % len(targets)]
    driver = DRIVERS[(index // len(targets)) % 2]
    return target, driver, rng


# -- running one input ------------------------------------------------------------------------

def _host_code(definition) -> tuple:
    """What of a module decides what its host code does: the bytecode, the
    function table, the rodata and the imports."""
    return (definition.bytecode, definition.functions,
            tuple(bytes(segment.data) for segment in definition.rodata),
            definition.imports, definition.signatures)


class Fuzzer:
    """Runs inputs in this process; each ``await run(index)`` returns its
    outcome string. Findings (``other``) carry their traceback in
    ``self.findings``."""

    def __init__(self, seeds: pathlib.Path, seed: int, targets: tuple[str, ...],
                 deadline: float) -> None:
        import numpy

        self.seeds = seeds
        self.seed = seed
        self.targets = targets
        self.deadline = deadline
        self.findings: list[str] = []
        self.internal: list[str] = []
        read = lambda name: (seeds / name).read_bytes()  # noqa: E731
        self.host = read("host.vmfb")
        self.vmvx = read("vmvx.vmfb")
        self.native = read("llvm-cpu.vmfb")
        self.native_elf = elf_span(self.native)
        from asyncvm.modules.bytecode import BytecodeModule

        self.native_host_code = _host_code(BytecodeModule.load(self.native).definition)
        self.elf = read("elf.bin")
        self.mlp = read("mlp.vmfb")
        self.parameter_files = {name: read(f"model.{name}") for name in PARAMETER_FORMATS}
        self.others = [self.host, self.vmvx]
        self.scratch = pathlib.Path(tempfile.mkdtemp(prefix="asyncvm-fuzz-"))
        rng = numpy.random.default_rng(5)
        self.batch = rng.standard_normal((3, 4)).astype(numpy.float32)
        self.tensor_calls = [
            ("dense", (self.batch,)),
            ("spin", (numpy.linspace(-1, 1, 8, dtype=numpy.float32),
                      numpy.arange(8, dtype=numpy.int32))),
            ("total", (numpy.arange(17, dtype=numpy.float32),)),
        ]
        self.mlp_input = rng.standard_normal((2, 4)).astype(numpy.float32)
        self.request_bodies = self._request_bodies()
        self.application = None

    def close(self) -> None:
        for path in self.scratch.iterdir():
            path.unlink()
        self.scratch.rmdir()

    async def run(self, index: int) -> str:
        target, driver, rng = plan(self.seed, index, self.targets)
        try:
            return await getattr(self, "_" + target.replace("-", "_"))(rng, driver)
        except Exception as error:
            from asyncvm.vm import VMError

            if isinstance(error, VMError):
                return self._status(error)
            self.findings.append(f"input {index} ({target}, {driver}): "
                                 + "".join(traceback.format_exception(error)))
            return f"other {type(error).__name__}"

    def _status(self, error) -> str:
        """The outcome of a VMError. INTERNAL is also what an unexpected
        Python exception becomes at an export boundary: its message is kept
        for review (``self.internal``)."""
        if error.status.name == "INTERNAL":
            self.internal.append(error.message.splitlines()[0])
        return f"VMError {error.status.name}"

    async def _calls(self, data: bytes, driver: str, calls, **options) -> str:
        import asyncvm
        from asyncvm.vm import VMError

        program = asyncvm.load(data, device=driver, memory_limit=MEMORY_LIMIT, **options)
        first = None
        for name, arguments in calls:
            try:
                await program.invoke(name, *arguments, timeout=self.deadline)
            except VMError as error:
                first = first or self._status(error)
        return first or "ran"

    async def _host(self, rng, driver):
        data, _ = mutate(self.host, rng, self.others)
        return await self._calls(data, driver, HOST_CALLS)

    async def _vmvx(self, rng, driver):
        data, _ = mutate(self.vmvx, rng, self.others)
        return await self._calls(data, driver, self.tensor_calls)

    async def _llvm_cpu(self, rng, driver):
        import asyncvm

        data, _ = mutate(self.native, rng, self.others, protected=self.native_elf)
        program = asyncvm.load(data, device=driver, memory_limit=MEMORY_LIMIT)
        if _host_code(program.main.definition) != self.native_host_code:
            # Loaded, verified and translated; not run: host code drives
            # native kernels (sizes, offsets, workgroup counts) and kernels
            # do not check bounds, so changed host code can make any
            # runtime's kernels write out of bounds.
            return "loaded (host code changed, not run)"
        return await self._calls(data, driver, self.tensor_calls)

    async def _elf(self, rng, driver):
        from asyncvm.hal._embedded_elf import EmbeddedElfExecutable
        from asyncvm.hal._native_library import check_elf_layout

        data, _ = mutate(self.elf, rng, [self.elf])
        check_elf_layout(data, "embedded-elf-x86_64 executable")
        loader = EmbeddedElfExecutable.__new__(EmbeddedElfExecutable)
        loader._open(data)  # maps, relocates, finds the query symbol; runs nothing
        return "ran"

    async def _parameters(self, rng, driver):
        format_name = rng.choice(PARAMETER_FORMATS)
        data, _ = mutate(self.parameter_files[format_name], rng, list(self.parameter_files.values()))
        path = self.scratch / f"model.{format_name}"
        path.write_bytes(data)
        files = {"model": [str(path)], "extra": [str(self.seeds / "extra.irpa")],
                 "": [str(self.seeds / "default.irpa")]}
        return await self._calls(self.mlp, driver, [("predict", (self.mlp_input,))],
                                 parameters=files)

    def _request_bodies(self) -> list[tuple[bytes, dict]]:
        data = self.batch.tobytes()
        json_body = json.dumps({"id": "a", "inputs": [
            {"name": "input0", "datatype": "FP32", "shape": [3, 4],
             "data": self.batch.reshape(-1).tolist()}],
            "outputs": [{"name": "output0"}]}).encode()
        header = json.dumps({"inputs": [
            {"name": "input0", "datatype": "FP32", "shape": [3, 4],
             "parameters": {"binary_data_size": len(data)}}],
            "outputs": [{"name": "output0", "parameters": {"binary_data": True}}]}).encode()
        return [(json_body, {"content-type": "application/json"}),
                (header + data, {"inference-header-content-length": str(len(header)),
                                 "content-type": "application/octet-stream"})]

    async def _requests(self, rng, driver):
        body, headers = rng.choice(self.request_bodies)
        data, _ = mutate(body, rng, [b for b, _ in self.request_bodies])
        headers = dict(headers)
        if "inference-header-content-length" in headers and rng.random() < 0.2:
            headers["inference-header-content-length"] = str(rng.randint(-2, len(data) + 2))
        client = self.clients[driver]
        response = await client.post("/v2/models/dense/infer", content=data, headers=headers)
        return f"HTTP {response.status_code}"

    async def serve(self, body):
        """Runs ``body()`` with an in-process client of the serving
        application per driver (``self.clients``), lifespan driven by hand."""
        import anyio
        import httpx

        import asyncvm
        from asyncvm.serving import create_application

        if "requests" not in self.targets:
            self.clients = {}
            return await body()
        applications = {driver: create_application(
            asyncvm.load(self.vmvx, device=driver, memory_limit=MEMORY_LIMIT),
            request_timeout=self.deadline) for driver in DRIVERS}
        async with contextlib.AsyncExitStack() as stack:
            group = await stack.enter_async_context(anyio.create_task_group())
            self.clients = {}
            for driver, application in applications.items():
                to_app, app_receive = anyio.create_memory_object_stream(4)
                app_send, from_app = anyio.create_memory_object_stream(4)
                group.start_soon(application, {"type": "lifespan", "asgi": {"version": "3.0"},
                                               "state": {}}, app_receive.receive, app_send.send)
                await to_app.send({"type": "lifespan.startup"})
                await from_app.receive()
                client = await stack.enter_async_context(httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application), base_url="http://fuzz"))
                self.clients[driver] = client
                stack.push_async_callback(to_app.send, {"type": "lifespan.shutdown"})
            try:
                return await body()
            finally:
                group.cancel_scope.cancel()


# -- worker and parent ------------------------------------------------------------------------

def worker(arguments) -> None:
    """Runs inputs ``start, start + jobs, ...`` below ``inputs`` (or those
    of ``--only``); writes ``B index`` before and ``E index elapsed
    outcome`` after each, and ``F finding`` for other exceptions."""
    import anyio

    targets = tuple(arguments.targets.split(","))
    fuzzer = Fuzzer(pathlib.Path(arguments.seeds), arguments.seed, targets, arguments.deadline)
    indices = arguments.only or list(range(arguments.start, arguments.inputs, arguments.jobs))
    out = sys.stdout
    batches = [indices[i:i + BATCH] for i in range(0, len(indices), BATCH)]
    for number, batch in enumerate(batches):
        async def run_batch(batch=batch):
            async def body():
                for index in batch:
                    out.write(f"B {index}\n")
                    out.flush()
                    began = time.perf_counter()
                    outcome = await fuzzer.run(index)
                    out.write(f"E {index} {time.perf_counter() - began:.4f} {outcome}\n")
                    for finding in fuzzer.findings:
                        out.write("F " + json.dumps(finding) + "\n")
                    for message in fuzzer.internal:
                        out.write("I " + json.dumps(f"input {index}: {message}") + "\n")
                    fuzzer.findings.clear()
                    fuzzer.internal.clear()
                    out.flush()
            await fuzzer.serve(body)

        backend = "trio" if (arguments.start // arguments.jobs + number) % 2 else "asyncio"
        anyio.run(run_batch, backend=backend)
    fuzzer.close()


def run_workers(arguments, seeds: pathlib.Path) -> dict:
    """Starts the workers, collects outcomes, replaces crashed or hung ones."""
    counts: collections.Counter = collections.Counter()
    by_target: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    findings: list[str] = []
    internal: list[str] = []
    targets = tuple(arguments.targets.split(","))
    slow: list[tuple[int, float]] = []
    per_input = arguments.deadline * 3 + arguments.slack
    indices = arguments.only or None
    jobs = arguments.jobs if indices is None else 1

    def spawn(start: int, only: list[int] | None = None) -> subprocess.Popen:
        command = [sys.executable, __file__, "--worker", "--seeds", str(seeds),
                   "--seed", str(arguments.seed), "--targets", arguments.targets,
                   "--deadline", str(arguments.deadline), "--jobs", str(jobs),
                   "--inputs", str(arguments.inputs), "--start", str(start)]
        if only:
            command += ["--only", *map(str, only)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, bufsize=1)

    workers = {}
    for job in range(jobs):
        process = spawn(job, indices)
        workers[process.stdout.fileno()] = [process, None, time.monotonic(), job]
    began = time.monotonic()
    done = 0
    reported = began
    while workers:
        ready, _, _ = select.select(list(workers), [], [], 1.0)
        now = time.monotonic()
        for descriptor in ready:
            state = workers[descriptor]
            process = state[0]
            line = process.stdout.readline()
            if not line:  # the worker ended
                process.wait()
                del workers[descriptor]
                if state[1] is None and process.returncode != 0:
                    # Failed outside any input (its set-up): nothing was tested.
                    counts["worker failure"] += 1
                    findings.append(f"a worker exited with code {process.returncode} "
                                    "outside any input")
                if state[1] is not None:  # died inside an input: a crash
                    index = state[1]
                    target = plan(arguments.seed, index, targets)[0]
                    counts["crash"] += 1
                    by_target[target]["crash"] += 1
                    findings.append(f"input {index} ({target}): worker died with code "
                                    f"{process.returncode}")
                    print("finding: " + findings[-1], file=sys.stderr, flush=True)
                    done += 1
                    if index + jobs < arguments.inputs and indices is None:
                        replacement = spawn(index + jobs)
                        workers[replacement.stdout.fileno()] = [replacement, None, now, state[3]]
                continue
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "B":
                state[1], state[2] = int(rest), now
            elif kind == "E":
                index_text, elapsed_text, outcome = rest.split(" ", 2)
                index, elapsed = int(index_text), float(elapsed_text)
                target = plan(arguments.seed, index, targets)[0]
                if elapsed > per_input:
                    outcome = "missed deadline"
                    findings.append(f"input {index} ({target}): took {elapsed:.2f} s")
                    print("finding: " + findings[-1], file=sys.stderr, flush=True)
                counts[outcome] += 1
                by_target[target][outcome] += 1
                state[1] = None
                done += 1
                if elapsed > 1.0:
                    slow.append((index, elapsed))
            elif kind == "F":
                findings.append(json.loads(rest))
                print("finding: " + findings[-1], file=sys.stderr, flush=True)
            elif kind == "I":
                internal.append(json.loads(rest))
                print("INTERNAL: " + internal[-1], file=sys.stderr, flush=True)
        for descriptor, state in list(workers.items()):
            if state[1] is not None and now - state[2] > per_input + 30:
                # Still in one input long past its deadlines: the VM is frozen.
                index = state[1]
                target = plan(arguments.seed, index, targets)[0]
                state[0].kill()
                state[0].wait()
                del workers[descriptor]
                counts["missed deadline"] += 1
                by_target[target]["missed deadline"] += 1
                findings.append(f"input {index} ({target}): no answer after {now - state[2]:.0f} s;"
                                " worker killed")
                print("finding: " + findings[-1], file=sys.stderr, flush=True)
                done += 1
                if index + jobs < arguments.inputs and indices is None:
                    replacement = spawn(index + jobs)
                    workers[replacement.stdout.fileno()] = [replacement, None, now, state[3]]
        if now - reported > 60:
            reported = now
            print(f"  {done} inputs, {now - began:.0f} s: {dict(counts)}", file=sys.stderr,
                  flush=True)
    return {"inputs": done, "seconds": round(time.monotonic() - began, 1),
            "outcomes": dict(counts.most_common()),
            "by_target": {target: dict(counter.most_common())
                          for target, counter in sorted(by_target.items())},
            "findings": findings, "internal": internal, "slowest": sorted(slow, key=lambda s: -s[1])[:10]}


def summarize(report: dict) -> str:
    outcomes = report["outcomes"]
    clean = sum(count for outcome, count in outcomes.items()
                if outcome == "ran" or outcome.startswith(("VMError", "HTTP", "loaded")))
    other = sum(count for outcome, count in outcomes.items() if outcome.startswith("other"))
    lines = [f"{report['inputs']} inputs in {report['seconds']} s",
             f"  ran, loaded, or a VMError/HTTP answer: {clean}",
             f"  other exceptions: {other}",
             f"  crashes: {outcomes.get('crash', 0)}",
             f"  missed deadlines: {outcomes.get('missed deadline', 0)}",
             "", "outcomes:"]
    lines += [f"  {count:8d}  {outcome}" for outcome, count in outcomes.items()]
    lines.append("by target:")
    for target, counter in report["by_target"].items():
        lines.append(f"  {target}: " + ", ".join(f"{outcome} {count}"
                                                for outcome, count in counter.items()))
    if report["internal"]:
        lines.append(f"INTERNAL errors ({len(report['internal'])}; first 20):")
        lines += ["  " + message for message in report["internal"][:20]]
    if report["findings"]:
        lines.append("findings:")
        lines += ["  " + finding.replace("\n", "\n    ") for finding in report["findings"][:20]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--deadline", type=float, default=1.0,
                        help="the VM deadline of every call, seconds")
    parser.add_argument("--slack", type=float, default=2.0,
                        help="seconds past an input's deadlines that count as a miss")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--only", type=int, nargs="*", help="replay these input numbers")
    parser.add_argument("--report", help="also write the report as JSON here")
    parser.add_argument("--seeds", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    unknown = set(arguments.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if arguments.worker:
        worker(arguments)
        return 0
    with tempfile.TemporaryDirectory(prefix="asyncvm-fuzz-seeds-") as directory:
        seeds = build_seeds(pathlib.Path(directory))
        report = run_workers(arguments, seeds)
    print(summarize(report))
    if arguments.report:
        pathlib.Path(arguments.report).write_text(json.dumps(report, indent=1))
    bad = (sum(c for o, c in report["outcomes"].items() if o.startswith("other"))
           + report["outcomes"].get("crash", 0) + report["outcomes"].get("missed deadline", 0)
           + report["outcomes"].get("worker failure", 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
