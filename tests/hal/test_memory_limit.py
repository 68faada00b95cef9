"""Memory limits: ``asyncvm.load(..., memory_limit=BYTES)``,
``create_device(..., memory_limit=...)`` and ``--memory-limit``.

The program computes ``x * 2 + 1`` over a ``tensor<?xf32>``, so the size of
the request drives the size of what the device allocates (its result goes
through ``hal.device.queue.alloca``). A call that would pass the limit fails
RESOURCE_EXHAUSTED with the numbers; concurrent calls that fit finish; live
bytes return to where they were once the buffers are gone; ``peak_bytes``
never passes the limit.
"""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import threading
import time

import anyio
import numpy
import pytest

import asyncvm
from asyncvm.hal import Device, Fence, HalModule
from asyncvm.hal._module import Allocator, allocator_allocate
from asyncvm.hal._semaphore import Semaphore
from asyncvm.vm import StatusCode, VMError

from _batch_model import LLVM_CPU, record_outcome
from _command_line import run_cli

pytestmark = pytest.mark.anyio

PROGRAM = """
func.func @f(%x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %two = arith.constant 2.0 : f32
  %one = arith.constant 1.0 : f32
  %e = tensor.empty(%n) : tensor<?xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %two : f32
      %s = arith.addf %m, %one : f32
      linalg.yield %s : f32
  } -> tensor<?xf32>
  return %y : tensor<?xf32>
}
"""
BUILDS = {"vmvx": (), "llvm-cpu": LLVM_CPU}
DRIVERS = ["local-sync", "local-task"]
LIMIT = 256 << 10
SMALL = 1000          # elements: 4000 bytes, eight of them fit many times over
HUGE = 1 << 18        # elements: 1 MiB, four times the limit


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("memory_limit") / "scale_offset.mlir"
    path.write_text(PROGRAM)
    return path


@pytest.fixture(scope="module", params=list(BUILDS))
def vmfb(request, compile_mlir, source):
    return compile_mlir(source, *BUILDS[request.param])


@pytest.fixture(params=DRIVERS)
def driver(request):
    return request.param


def expected(x: numpy.ndarray) -> numpy.ndarray:
    return x * numpy.float32(2) + numpy.float32(1)


def inputs(count: int, seed: int = 0) -> numpy.ndarray:
    return numpy.random.default_rng(seed).standard_normal(count).astype(numpy.float32)


async def settled(device: Device, live: int) -> int:
    """The device's live bytes once they are back to ``live`` (queue work on
    local-task workers may drop its last references a moment after the call
    returns); what they are after a few seconds otherwise."""
    deadline = time.monotonic() + 5
    while True:
        gc.collect()
        now = device.statistics.live_bytes
        if now == live or time.monotonic() > deadline:
            return now
        await anyio.sleep(0.01)


def assert_exhausted(error: VMError, driver: str, length: int, limit: int) -> None:
    assert error.status == StatusCode.RESOURCE_EXHAUSTED, error
    match = re.search(rf"device {driver}: allocating {length} bytes would hold (\d+) of its "
                      rf"{limit}-byte limit", error.message)
    assert match is not None, error.message
    assert int(match.group(1)) >= length > limit


# -- a call within the limit, a call past it -----------------------------------------------

async def test_within_the_limit_works_and_past_it_fails(vmfb, driver):
    program = asyncvm.load(vmfb, device=driver, memory_limit=LIMIT)
    x = inputs(SMALL)
    (y,) = await program.f(x)
    numpy.testing.assert_array_equal(y, expected(x))
    with pytest.raises(VMError) as caught:
        await program.f(inputs(HUGE))
    assert_exhausted(caught.value, driver, HUGE * 4, LIMIT)
    statistics = program.device.statistics
    assert statistics.limit == LIMIT == program.device.memory_limit
    assert 0 < statistics.peak_bytes <= LIMIT
    # The program stays usable.
    (again,) = await program.f(x)
    numpy.testing.assert_array_equal(again, expected(x))


async def test_no_limit_by_default(vmfb):
    program = asyncvm.load(vmfb)
    (y,) = await program.f(inputs(HUGE))
    assert y.shape == (HUGE,)
    assert program.device.statistics.limit is None
    assert program.device.memory_limit is None


# -- only the invocation that passes the limit fails -------------------------------------------

async def test_only_the_call_past_the_limit_fails(vmfb, driver):
    program = asyncvm.load(vmfb, device=driver, memory_limit=LIMIT)
    await program.f(inputs(SMALL))  # initializers, first-call costs
    device = program.device
    baseline = await settled(device, 0)
    for round_ in range(3):
        outcomes: dict = {}
        smalls = {f"small{index}": inputs(SMALL, seed=index) for index in range(8)}
        async with anyio.create_task_group() as group:
            for tag, x in smalls.items():
                group.start_soon(record_outcome, outcomes, tag, lambda x=x: program.f(x))
            group.start_soon(record_outcome, outcomes, "huge",
                             lambda: program.f(inputs(HUGE, seed=99)))
        for tag, x in smalls.items():
            assert not isinstance(outcomes[tag], VMError), (round_, tag, outcomes[tag])
            numpy.testing.assert_array_equal(outcomes[tag][0], expected(x))
        assert isinstance(outcomes["huge"], VMError)
        assert_exhausted(outcomes["huge"], driver, HUGE * 4, LIMIT)
        statistics = device.statistics
        assert statistics.limit == LIMIT
        assert statistics.peak_bytes <= LIMIT
        del outcomes
        assert await settled(device, baseline) == baseline
    x = inputs(SMALL, seed=5)
    (y,) = await program.f(x)
    numpy.testing.assert_array_equal(y, expected(x))
    assert device.statistics.peak_bytes <= LIMIT


async def test_memory_is_available_again_after_a_failure(vmfb):
    """A call that needs most of the limit works after one that passed it."""
    program = asyncvm.load(vmfb, memory_limit=LIMIT)
    with pytest.raises(VMError) as caught:
        await program.f(inputs(HUGE))
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    del caught
    x = inputs(LIMIT // 4 - 64)
    (y,) = await program.f(x)
    numpy.testing.assert_array_equal(y, expected(x))
    assert program.device.statistics.peak_bytes <= LIMIT


# -- the device's allocation paths -------------------------------------------------------------

@pytest.fixture(params=["native", "python"])
def counting(request, monkeypatch):
    """Devices made under it count their allocations natively (the C
    helper's ``BlockCounters``) or with the Python fallback."""
    from asyncvm.hal import _allocator_statistics

    if request.param == "native":
        if _allocator_statistics.BlockCounters is None:
            pytest.skip("the C helper was not built")
    else:
        monkeypatch.setattr(_allocator_statistics, "BlockCounters", None)
    return request.param


def test_allocate_past_the_limit_counts_nothing(counting):
    device = asyncvm.create_device(memory_limit=1000)
    held = device.allocate(600)
    before = device.statistics
    with pytest.raises(VMError) as caught:
        device.allocate(401)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.message == ("device local-sync: allocating 401 bytes would hold 1001 of "
                                    "its 1000-byte limit (600 bytes live)")
    assert device.statistics == before
    exact = device.allocate(400)  # up to the limit itself is allowed
    assert device.statistics.live_bytes == device.statistics.peak_bytes == 1000
    del held, exact
    gc.collect()
    assert device.statistics.live_bytes == 0
    device.allocate(1000)


def test_memory_counts_as_freed_when_its_last_view_goes(counting):
    """A buffer, a subspan and a result array handed out all hold the
    memory: it counts as freed only when the last of them is gone."""
    device = asyncvm.create_device()
    buffer = device.allocate(256)
    subspan = buffer.subspan(64, 64)
    array = buffer.storage[buffer.offset:buffer.offset + 16]
    statistics = device.statistics
    assert (statistics.allocations, statistics.frees, statistics.live_bytes) == (1, 0, 256)
    del buffer, subspan
    assert device.statistics.live_bytes == 256
    array[:] = 7  # still the device's memory, still writable
    del array
    statistics = device.statistics
    assert (statistics.allocations, statistics.frees, statistics.bytes_allocated,
            statistics.bytes_freed, statistics.peak_bytes) == (1, 1, 256, 256, 256)


OUT_OF_MEMORY = """
import resource, sys
import asyncvm
from asyncvm.hal import _allocator_statistics
if sys.argv[1] == "python":
    _allocator_statistics.BlockCounters = None
device = asyncvm.create_device(memory_limit=1 << 40)
held = device.allocate(100)
before = device.statistics
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * resource.getpagesize()
# The address space as it is plus 256 MiB: a 1 GiB allocation cannot be had.
resource.setrlimit(resource.RLIMIT_AS, (mapped + (256 << 20), resource.RLIM_INFINITY))
try:
    device.allocate(1 << 30)
except asyncvm.VMError as error:
    print(error.status.name, error.message)
print(device.statistics == before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_host_out_of_memory_counts_nothing(counting):
    """When the host cannot provide the memory, the allocation is
    RESOURCE_EXHAUSTED and neither the counts nor the peak move. (In a
    process of its own, whose address space is bounded.)"""
    completed = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY, counting],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f"RESOURCE_EXHAUSTED out of memory allocating {1 << 30} bytes", "True"]


@pytest.mark.parametrize("length", [-1, (1 << 40) + 1])
def test_impossible_lengths_are_resource_exhausted(counting, length):
    device = asyncvm.create_device()
    with pytest.raises(VMError) as caught:
        device.allocate(length)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.message == f"cannot allocate {length} bytes"
    assert device.statistics.allocations == 0


def test_counts_stay_exact_under_threads(counting):
    """Four threads allocate and drop buffers while a fifth keeps some of
    them alive: every allocation is counted once, and once freed."""
    device = asyncvm.create_device(memory_limit=1 << 20)
    kept, failures = [], []

    def work(seed: int) -> None:
        try:
            for index in range(2000):
                buffer = device.allocate(64 + (seed * 7 + index) % 200)
                if index % 97 == 0:
                    kept.append(buffer)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    statistics = device.statistics
    expected_lengths = [64 + (seed * 7 + index) % 200 for seed in range(4) for index in range(2000)]
    assert statistics.allocations == 8000
    assert statistics.bytes_allocated == sum(expected_lengths)
    assert statistics.live_allocations == len(kept)
    assert statistics.live_bytes == sum(buffer.length for buffer in kept)
    del kept[:]
    statistics = device.statistics
    assert (statistics.frees, statistics.live_bytes) == (8000, 0)
    assert 0 < statistics.peak_bytes <= 1 << 20


def test_limit_error_while_the_collector_frees_a_buffer(counting, monkeypatch):
    """Any allocation may start a garbage collection, which may free a
    buffer of the same device on this thread (and, counted in Python, its
    callback takes the statistics' lock). Here the collection is made to
    happen as the RESOURCE_EXHAUSTED error is made. (The error used to be
    made with the lock held, and a non-reentrant lock: such a call hung for
    ever.)"""
    from asyncvm.hal import _allocator_statistics

    device = asyncvm.create_device(memory_limit=1000)
    real_error = _allocator_statistics.VMError

    def error_made_during_a_collection(*arguments, **options):
        gc.collect()
        return real_error(*arguments, **options)

    monkeypatch.setattr(_allocator_statistics, "VMError", error_made_during_a_collection)
    outcome = []

    def run() -> None:
        class Cycle:  # a buffer only the cycle collector frees
            pass

        cycle = Cycle()
        cycle.self, cycle.buffer = cycle, device.allocate(600)
        del cycle
        try:
            device.allocate(500)
        except VMError as error:
            outcome.append(error.status)

    gc.disable()
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=30)
    finally:
        gc.enable()
    assert not thread.is_alive(), "allocate hung with the statistics' lock held"
    assert outcome == [StatusCode.RESOURCE_EXHAUSTED]
    assert device.statistics.live_bytes == 0  # the cycle's buffer was freed meanwhile
    device.allocate(1000)


def test_allocator_allocate_export_is_bounded():
    device = asyncvm.create_device("local-task", memory_limit=4096)
    with pytest.raises(VMError) as caught:
        allocator_allocate(None, Allocator(device), 0, 0, 0, 8192)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert "device local-task: allocating 8192 bytes" in caught.value.message
    assert allocator_allocate(None, Allocator(device), 0, 0, 0, 4096).length == 4096


@pytest.mark.parametrize("driver", DRIVERS)
async def test_queue_alloca_past_the_limit_fails_its_signal_fence(driver):
    device = asyncvm.create_device(driver, memory_limit=1024)
    wait, signal = Fence.at(Semaphore(0), 1), Fence.at(Semaphore(0), 1)
    with pytest.raises(VMError) as caught:
        device.queue_alloca(wait, signal, 2048, 0, 0)
    assert caught.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert signal.query() == StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(VMError) as waited:
        await signal.wait()
    assert waited.value.status == StatusCode.RESOURCE_EXHAUSTED
    assert "allocating 2048 bytes would hold 2048 of its 1024-byte limit" in waited.value.message
    assert device.statistics.allocations == 0
    # Within the limit: the buffer at once, the signal once the wait is reached.
    ordered = Fence.at(Semaphore(0), 1)
    buffer = device.queue_alloca(wait, ordered, 1024, 0, 0)
    assert buffer.length == 1024 and ordered.query() == StatusCode.DEFERRED
    wait.signal()
    with anyio.fail_after(10):
        await ordered.wait()


# -- bad limits -----------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [0, -1, 1.5, "64M", True, numpy.float64(2.0)])
def test_bad_limits_are_invalid_arguments(vmfb, limit):
    for make in (lambda: asyncvm.load(vmfb, memory_limit=limit),
                 lambda: asyncvm.create_device(memory_limit=limit),
                 lambda: Device("local-task", memory_limit=limit)):
        with pytest.raises(VMError) as caught:
            make()
        assert caught.value.status == StatusCode.INVALID_ARGUMENT
        assert "memory limit" in caught.value.message


def test_numpy_integer_limit_is_accepted(vmfb):
    program = asyncvm.load(vmfb, memory_limit=numpy.int64(LIMIT))
    assert program.device.statistics.limit == LIMIT


def test_limit_with_a_given_hal_module_is_invalid(vmfb):
    with pytest.raises(VMError) as caught:
        asyncvm.load(vmfb, modules=[HalModule([asyncvm.create_device()])], memory_limit=LIMIT)
    assert caught.value.status == StatusCode.INVALID_ARGUMENT


# -- the command line ---------------------------------------------------------------------------

def test_size_suffixes():
    from asyncvm.tools._run import parse_memory_size

    assert parse_memory_size("4096") == 4096
    assert parse_memory_size("512K") == 512 << 10
    assert parse_memory_size("64M") == parse_memory_size("64MiB") == 64 << 20
    assert parse_memory_size("1g") == parse_memory_size("1GB") == 1 << 30
    assert parse_memory_size("1.5K") == 1536
    for bad in ("", "M", "64X", "-1K", "1K2"):
        with pytest.raises(Exception):
            parse_memory_size(bad)


@pytest.mark.parametrize("command", ["run", "benchmark"])
def test_cli_memory_limit(vmfb, capsys, command):
    extra = ["--duration=0.2"] if command == "benchmark" else []
    big = f"--input={HUGE}xf32=1"
    code, out, err = run_cli(capsys, command, f"--module={vmfb}", "--function=f", big,
                             "--memory-limit=1K", *extra)
    assert code == 1
    assert "error: RESOURCE_EXHAUSTED" in err
    assert "of its 1024-byte limit" in err
    code, out, err = run_cli(capsys, command, f"--module={vmfb}", "--function=f", big,
                             "--memory-limit=64M", *extra)
    assert code == 0, err
    if command == "run":
        assert f"{HUGE}xf32=3 3 3" in out


def test_cli_bad_memory_limits(vmfb, capsys):
    code, _, err = run_cli(capsys, "run", f"--module={vmfb}", "--function=f", "--input=4xf32=1",
                           "--memory-limit=0")
    assert code == 1 and "error: INVALID_ARGUMENT" in err
    with pytest.raises(SystemExit) as exited:
        run_cli(capsys, "run", f"--module={vmfb}", "--function=f", "--input=4xf32=1",
                "--memory-limit=lots")
    assert exited.value.code == 2


# -- serving ------------------------------------------------------------------------------------

def test_serve_flag_reaches_the_settings(vmfb):
    pytest.importorskip("starlette")
    from asyncvm.serving import ServeSettings
    from asyncvm.tools import _parser
    from asyncvm.tools._serve import settings_from

    arguments = _parser().parse_args(["serve", f"--module={vmfb}", "--memory-limit=64K"])
    settings = settings_from(arguments)
    assert settings.memory_limit == 64 << 10
    assert ServeSettings.from_json(settings.to_json()) == settings
    assert settings_from(_parser().parse_args(["serve", f"--module={vmfb}"])).memory_limit is None


async def test_serve_answers_503_past_the_limit(vmfb):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("starlette")
    from asyncvm.serving import ServeSettings, build_application

    application = build_application(ServeSettings(modules=[str(vmfb)], memory_limit=64 << 10,
                                                  max_batch_size=0))
    to_app, app_receive = anyio.create_memory_object_stream(4)
    app_send, from_app = anyio.create_memory_object_stream(4)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://app", timeout=60) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(application, {"type": "lifespan", "asgi": {"version": "3.0"},
                                           "state": {}}, app_receive.receive, app_send.send)
            with anyio.fail_after(60):
                await to_app.send({"type": "lifespan.startup"})
                assert (await from_app.receive())["type"] == "lifespan.startup.complete"

                async def infer(count: int):
                    x = numpy.arange(count, dtype=numpy.float32)
                    body = {"inputs": [{"name": "input0", "datatype": "FP32", "shape": [count],
                                        "data": x.tolist()}]}
                    return x, await client.post("/v2/models/f/infer", json=body)

                x, small = await infer(100)
                assert small.status_code == 200, small.text
                (output,) = small.json()["outputs"]
                numpy.testing.assert_array_equal(numpy.array(output["data"], numpy.float32),
                                                 expected(x))
                _, huge = await infer(32 << 10)  # 128 KiB of results
                assert huge.status_code == 503, huge.text
                assert "RESOURCE_EXHAUSTED" in huge.json()["error"]
                _, again = await infer(100)
                assert again.status_code == 200, again.text
                await to_app.send({"type": "lifespan.shutdown"})
                assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
