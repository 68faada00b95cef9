"""Shared fixtures for asyncvm's test-suite.

* ``anyio_backend``: every ``@pytest.mark.anyio`` test runs under asyncio and
  under trio.
* ``compile_mlir``: compiles a program from ``tests/programs`` with the
  ``iree-compile`` that ships with the installed ``iree.compiler`` package,
  caching the ``.vmfb`` on disk keyed by source text, flags and compiler
  version (re-runs do not recompile).
* ``library`` / ``user``: the two bytecode modules of the context tests
  (``ctx_library.mlir``, and ``ctx_user.mlir`` which imports it).
* ``iree_reference`` / ``differential`` / ``differential_sequence``: run a
  compiled program in IREE's own runtime and in asyncvm and require identical
  results (see ``_iree_reference.py`` for the value conventions).

Tests that need the compiler are skipped when ``iree.compiler`` is not
installed; comparisons are skipped when ``iree.runtime`` is not installed.

In CI (``CI`` set to a true value, as CI services set ``CI=true``) nothing
may be skipped for want of a dependency: the session stops at once with a
list of what is missing (see :data:`CI_REQUIREMENTS`), and any skip whose
reason says something is missing ("not installed", "not found", "no C
compiler", "was not built", an ``importorskip``) becomes a failure.
Legitimate skips (asyncio-only, platform-specific) stay skips.

With ``ASYNCVM_WITHOUT_C_EXTENSIONS=1`` the session runs as if asyncvm had
been installed without a C compiler: its optional C extensions
(:data:`C_EXTENSIONS`) cannot be imported, so the Python fallbacks run, and
a skip for an extension that "was not built" stays a skip even in CI
(``.ci/run`` runs part of the suite this way).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROGRAMS_DIR = TESTS_DIR / "programs"
if str(TESTS_DIR) not in sys.path:  # for `import _iree_reference` in any import mode
    sys.path.insert(0, str(TESTS_DIR))

C_EXTENSIONS = ("asyncvm.hal._workgroup_loop", "asyncvm.hal._workgroup_team",
                "asyncvm.vm._memory_address", "asyncvm.vm._aligned_blocks",
                "asyncvm.vm._bound_exports")
"""asyncvm's optional C extensions: each has a Python fallback."""

WITHOUT_C_EXTENSIONS = os.environ.get("ASYNCVM_WITHOUT_C_EXTENSIONS") == "1"
if WITHOUT_C_EXTENSIONS:
    # Before anything imports asyncvm: importing them now raises ImportError,
    # as it does where they were never built.
    for _name in C_EXTENSIONS:
        sys.modules[_name] = None

import _iree_reference as ref  # noqa: E402  (after the sys.path tweak)

pytest_plugins = ["pytester"]  # tests/tools/test_packaging.py tests the CI hooks below


# --------------------------------------------------------------------------
# CI: a missing test dependency fails the run instead of skipping tests
# --------------------------------------------------------------------------


def running_in_ci(environ=os.environ) -> bool:
    """``CI`` is set to a true value (``true``, ``1``, ``yes``...)."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _importable(name: str) -> "str | None":
    """None if ``name`` imports, else why not."""
    try:
        importlib.import_module(name)
    except Exception as error:  # ImportError, or a broken binary wheel
        return f"{type(error).__name__}: {error}"
    return None


def _iree_compile_missing() -> "str | None":
    problem = _importable("iree.compiler")
    if problem:
        return problem
    try:
        from iree.compiler.tools.binaries import find_tool

        find_tool("iree-compile")
    except Exception as error:
        return f"iree-compile not found: {error}"
    return None


def _iree_run_module_missing() -> "str | None":
    problem = _importable("iree.runtime")
    if problem:
        return problem
    if not (Path(sys.executable).with_name("iree-run-module").exists()
            or shutil.which("iree-run-module")):
        return "iree-run-module not found next to python or on PATH"
    return None


def _c_compiler_missing() -> "str | None":
    return None if shutil.which("cc") or shutil.which("gcc") else "neither cc nor gcc is on PATH"


CI_REQUIREMENTS: list = [
    ("iree.compiler and iree-compile (pip install iree-base-compiler)", _iree_compile_missing),
    ("iree.runtime and iree-run-module (pip install iree-base-runtime)", _iree_run_module_missing),
    ("httpx", lambda: _importable("httpx")),
    ("uvicorn", lambda: _importable("uvicorn")),
    *([("uvloop", lambda: _importable("uvloop"))] if sys.platform != "win32" else []),
    ("a C compiler, for the native library tests and hal._workgroup_loop", _c_compiler_missing),
    *[(f"{name} (pip install -e . builds it when there is a C compiler)",
       lambda name=name: _importable(name))
      for name in (() if WITHOUT_C_EXTENSIONS else C_EXTENSIONS)],
]
"""``(what, check)``: ``check()`` returns None when ``what`` is there, else
why not. In CI a session does not start without all of them."""

CI_MISSING_EXIT_CODE = pytest.ExitCode.USAGE_ERROR
"""Exit status of a CI session that stopped because a dependency is missing."""

MISSING_DEPENDENCY = re.compile(
    r"not installed|not found|no c compiler|was not built|could not import|no module named",
    re.IGNORECASE)
"""Skip reasons that mean the environment lacks something (``importorskip``
says "could not import ...")."""

BLOCKED_EXTENSION = re.compile(r"was not built|could not import 'asyncvm\.", re.IGNORECASE)
"""Skip reasons for a C extension that is missing: the point of a session
run with ``ASYNCVM_WITHOUT_C_EXTENSIONS=1``."""


def pytest_sessionstart(session):
    if not running_in_ci():
        return
    missing = [(what, problem) for what, check in CI_REQUIREMENTS for problem in [check()] if problem]
    if missing:
        lines = "\n".join(f"  - {what}: {problem}" for what, problem in missing)
        pytest.exit(f"CI={os.environ.get('CI')!r}: test dependencies are missing, and in CI the "
                    f"tests that need them may not be skipped:\n{lines}\n"
                    "Install them (pip install -e '.[test]' and a C compiler).",
                    returncode=CI_MISSING_EXIT_CODE)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_missing_dependency_skip(report) -> None:
    """In CI, turns a skip for a missing dependency into a failure."""
    if not report.skipped or hasattr(report, "wasxfail") or not running_in_ci():
        return
    reason = _skip_reason(report)
    if WITHOUT_C_EXTENSIONS and BLOCKED_EXTENSION.search(reason):
        return
    if MISSING_DEPENDENCY.search(reason):
        report.outcome = "failed"
        report.longrepr = (f"{reason}\nCI={os.environ.get('CI')!r}: a test may not be skipped "
                           "because a dependency is missing; install it.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_missing_dependency_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A module-level importorskip skips the whole module at collection.
    outcome = yield
    _fail_missing_dependency_skip(outcome.get_result())


# Flags for host programs (func.func/arith/scf/util input): the standard
# pipeline with a CPU-free local device so no native code generation is needed.
HOST_FLAGS = (
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=vmvx",
)
# Flags for VM-dialect programs (a `vm.module` compiled directly to bytecode).
VM_FLAGS = ("--compile-mode=vm",)
MODE_FLAGS = {"host": HOST_FLAGS, "vm": VM_FLAGS}

# iree-compile 3.13 can hang forever on some inputs (recursion in public
# functions, see tests/programs/control.mlir); never wait on it indefinitely.
COMPILE_TIMEOUT_SECONDS = 180


# --------------------------------------------------------------------------
# Async backends
# --------------------------------------------------------------------------


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


def _serving_backends() -> list:
    """asyncio, uvloop (when installed) and trio, for the tests of concurrent
    serving (scheduling, cancellation, fences, batching)."""
    backends = [pytest.param("asyncio", id="asyncio")]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        backends.append(pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"))
    backends.append(pytest.param("trio", id="trio"))
    return backends


SERVING_BACKENDS = _serving_backends()


# --------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------


class CompileError(RuntimeError):
    pass


def _find_iree_compile() -> str:
    """The iree-compile executable belonging to the installed iree.compiler."""
    pytest.importorskip("iree.compiler", reason="iree.compiler (iree-base-compiler) is not installed")
    try:
        from iree.compiler.tools.binaries import find_tool

        return find_tool("iree-compile")
    except Exception:
        pass
    for candidate in (Path(sys.executable).with_name("iree-compile"), shutil.which("iree-compile")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.skip("iree-compile not found (iree.compiler is installed but has no tool)")


def _compiler_version(exe: str) -> str:
    try:
        from iree.compiler import version as v

        return f"{v.VERSION} {sorted(getattr(v, 'REVISIONS', {}).items())}"
    except Exception:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
        return proc.stdout.strip()


def _resolve_source(source: "str | os.PathLike[str]") -> Path:
    path = Path(source)
    if not path.is_absolute():
        candidate = PROGRAMS_DIR / path
        if not candidate.exists() and not candidate.suffix:
            candidate = candidate.with_suffix(".mlir")
        if candidate.exists() or not path.exists():
            path = candidate
    if not path.is_file():
        raise FileNotFoundError(f"no MLIR program {source!r} (looked in {PROGRAMS_DIR})")
    return path


class MlirCompiler:
    """``compile_mlir(source, *extra_flags, mode="host") -> Path``.

    ``source`` is a file name in tests/programs (".mlir" optional) or a path.
    ``mode="host"`` compiles func/arith/scf/util programs with HOST_FLAGS;
    ``mode="vm"`` compiles a ``vm.module`` directly (VM_FLAGS).
    """

    def __init__(self, cache_dir: Path):
        self.exe = _find_iree_compile()
        self.version = _compiler_version(self.exe)
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._memo: dict = {}

    def flags_for(self, mode: str, extra_flags: Iterable[str] = ()) -> tuple:
        if mode not in MODE_FLAGS:
            raise ValueError(f"unknown compile mode {mode!r} (expected one of {sorted(MODE_FLAGS)})")
        return MODE_FLAGS[mode] + tuple(extra_flags)

    def __call__(self, source: "str | os.PathLike[str]", *extra_flags: str, mode: str = "host") -> Path:
        src = _resolve_source(source)
        flags = self.flags_for(mode, extra_flags)
        text = src.read_bytes()
        digest = hashlib.sha256()
        for part in (self.version.encode(), mode.encode(), "\0".join(flags).encode(), text):
            digest.update(part)
            digest.update(b"\0\1\0")
        key = digest.hexdigest()[:24]
        memo_key = (str(src), key)
        if memo_key in self._memo:
            return self._memo[memo_key]
        out = self.cache_dir / f"{src.stem}-{mode}-{key}.vmfb"
        if not out.is_file():
            tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
            cmd = [self.exe, *flags, str(src), "-o", str(tmp)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                tmp.unlink(missing_ok=True)
                raise CompileError(f"iree-compile timed out after {COMPILE_TIMEOUT_SECONDS}s: {' '.join(cmd)}")
            if proc.returncode != 0 or not tmp.is_file():
                tmp.unlink(missing_ok=True)
                raise CompileError(
                    f"iree-compile failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-8000:]}"
                )
            os.replace(tmp, out)  # atomic: concurrent sessions never see partial files
        self._memo[memo_key] = out
        return out


@pytest.fixture(scope="session")
def compile_mlir(pytestconfig, tmp_path_factory) -> Callable[..., Path]:
    cache = getattr(pytestconfig, "cache", None)
    if cache is not None:
        cache_dir = Path(cache.mkdir("asyncvm-vmfb"))
    else:  # cacheprovider disabled (-p no:cacheprovider): per-session only
        cache_dir = tmp_path_factory.mktemp("asyncvm-vmfb")
    return MlirCompiler(cache_dir)


@pytest.fixture(scope="session")
def library(compile_mlir):
    """``tests/programs/ctx_library.mlir`` as a bytecode module (the
    library that ``user`` imports)."""
    from asyncvm.modules.bytecode import BytecodeModule

    return BytecodeModule.load(compile_mlir("ctx_library.mlir", mode="vm"))


@pytest.fixture(scope="session")
def user(compile_mlir):
    """``tests/programs/ctx_user.mlir`` as a bytecode module: imports
    ``library`` and a ``host`` module's ``fetch`` (and optional ``maybe``)."""
    from asyncvm.modules.bytecode import BytecodeModule

    return BytecodeModule.load(compile_mlir("ctx_user.mlir", mode="vm"))


# --------------------------------------------------------------------------
# asyncvm side
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def asyncvm():
    """The asyncvm package (imported here so collection works without it)."""
    import asyncvm as module

    return module


# --------------------------------------------------------------------------
# IREE reference side and differential checks
# --------------------------------------------------------------------------

_REFERENCE_MEMO: dict = {}


def _arg_key(args: Iterable[Any]) -> tuple:
    # repr keeps 0.0/-0.0 and int/float apart (they hash equal otherwise).
    return tuple((type(a).__name__, repr(a)) for a in args)


def _reference_call(vmfb: Path, function: str, args: tuple):
    """IREE's result for a single call in a fresh context (memoized)."""
    key = (str(vmfb), function, _arg_key(args))
    if key not in _REFERENCE_MEMO:
        try:
            _REFERENCE_MEMO[key] = ref.iree_invoke(vmfb, function, args)
        except ref.IreeError as e:
            _REFERENCE_MEMO[key] = e
    return _REFERENCE_MEMO[key]


@pytest.fixture(scope="session")
def iree_reference():
    """``iree_reference(vmfb, function, *args)``: IREE's results (tuple) or the
    :class:`_iree_reference.IreeError` it raised. Skips without iree.runtime."""
    pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")

    def call(vmfb, function, *args):
        return _reference_call(Path(vmfb), function, tuple(args))

    return call


def _check_status(err, expected: "ref.IreeError", where: str) -> None:
    assert expected.status is not None, f"{where}: IREE reported an unnamed status: {expected.message}"
    assert int(err.status) == expected.status, (
        f"{where}: asyncvm status {err.status!r} != IREE status {expected.status_name}\n"
        f"  asyncvm: {err}\n  IREE:    {expected.message.splitlines()[0]}"
    )


async def _compare_call(asyncvm, program, function: str, args: tuple, expected, where: str) -> None:
    """Runs one call in asyncvm and asserts it matches IREE's result or failure."""
    if isinstance(expected, ref.IreeError):
        with pytest.raises(asyncvm.VMError) as info:
            await program.invoke(function, *args)
        _check_status(info.value, expected, where)
    else:
        actual = await program.invoke(function, *args)
        assert isinstance(actual, tuple), f"{where}: invoke returned {type(actual).__name__}, not tuple"
        ref.assert_values_equal(actual, expected, where)


@pytest.fixture
def differential(asyncvm, iree_reference):
    """``await differential(vmfb, function, *args)`` runs the call in IREE and
    in a freshly loaded asyncvm program and asserts identical results (or the
    same failure status). Returns IREE's results (or IreeError)."""

    async def check(vmfb, function, *args):
        expected = iree_reference(vmfb, function, *args)
        program = asyncvm.load(str(vmfb))
        where = f"{Path(vmfb).name}:{function}{args!r}"
        await _compare_call(asyncvm, program, function, args, expected, where)
        return expected

    return check


@pytest.fixture
def differential_cases(asyncvm, iree_reference):
    """``await differential_cases(vmfb, function, [args, ...])`` compares
    many calls of one function, reusing one asyncvm program while calls
    succeed (a fresh one after any failure). All mismatches are collected
    and reported together. Returns the number of calls checked."""

    async def check(vmfb, function, arg_tuples):
        name = Path(vmfb).name
        program = asyncvm.load(str(vmfb))
        failures = []
        count = 0
        for args in arg_tuples:
            args = tuple(args)
            count += 1
            expected = iree_reference(vmfb, function, *args)
            where = f"{name}:{function}{args!r}"
            try:
                actual = await program.invoke(function, *args)
            except asyncvm.VMError as err:
                program = asyncvm.load(str(vmfb))
                if not isinstance(expected, ref.IreeError):
                    failures.append(f"{where}: unexpected VMError {err} (IREE returned {expected!r})")
                elif expected.status is None or int(err.status) != expected.status:
                    failures.append(
                        f"{where}: status {err.status!r} != IREE {expected.status_name or expected.message}"
                    )
                continue
            except Exception as err:  # report, keep checking the other cases
                program = asyncvm.load(str(vmfb))
                failures.append(f"{where}: raised {type(err).__name__}: {err}")
                continue
            if isinstance(expected, ref.IreeError):
                failures.append(f"{where}: returned {actual!r} but IREE failed with {expected.status_name}")
            elif not ref.values_equal(actual, expected):
                failures.append(f"{where}: got {ref.normalize(actual)!r}, IREE {ref.normalize(expected)!r}")
        if failures:
            shown = "\n  ".join(failures[:40])
            more = f"\n  ... and {len(failures) - 40} more" if len(failures) > 40 else ""
            pytest.fail(f"{len(failures)}/{count} calls differ from IREE:\n  {shown}{more}", pytrace=False)
        return count

    return check


@pytest.fixture
def differential_sequence(asyncvm):
    """``await differential_sequence(vmfb, [(function, args), ...])`` runs the
    calls in order in one IREE context and in one asyncvm program (state such
    as globals carries over) and compares every call. Returns IREE's results."""
    pytest.importorskip("iree.runtime", reason="iree.runtime (iree-base-runtime) is not installed")

    async def check(vmfb, calls):
        calls = [(fn, tuple(args)) for fn, args in calls]
        expected_all = ref.iree_invoke_sequence(vmfb, calls)
        program = asyncvm.load(str(vmfb))
        for step, ((function, args), expected) in enumerate(zip(calls, expected_all)):
            where = f"{Path(vmfb).name} step {step}: {function}{args!r}"
            await _compare_call(asyncvm, program, function, args, expected, where)
        return expected_all

    return check
