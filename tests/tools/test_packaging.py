"""Packaging: the wheel adds one import name, ``asyncvm``, so a user's own
``modules`` and ``hal`` packages keep working next to it; and the optional C
workgroup loop, when missing, is reported once.

The wheel is built once per module from a copy of the source tree (so the
build's ``build/`` folder never lands in the checkout), or taken from
``ASYNCVM_TEST_WHEEL`` when ``.ci/run`` has built it already.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 600  # pip fetches setuptools into an isolated build environment

# Left out of the copy that is built: what a fresh clone does not have.
UNBUILT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                 "*.pyc", "*.so", ".pytest_cache", ".hypothesis")


def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def dist_info_name(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    return f"{name}-{version}.dist-info"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("ASYNCVM_TEST_WHEEL")
    if given:
        path = Path(given)
        assert path.is_file(), f"ASYNCVM_TEST_WHEEL={given} is not a file"
        return path
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=UNBUILT)
    out = work / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
               str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    (path,) = out.glob("asyncvm-*.whl")
    return path


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel installed alone (no dependencies) into a folder of its own."""
    target = tmp_path_factory.mktemp("installed") / "site"
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
               "--disable-pip-version-check", "--target", str(target), str(wheel)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return target


def test_wheel_holds_only_asyncvm_and_its_dist_info(wheel):
    dist_info = dist_info_name(wheel)
    files = wheel_files(wheel)
    strays = [name for name in files
              if not name.startswith(("asyncvm/", f"{dist_info}/"))]
    assert not strays, f"{wheel.name} installs more than asyncvm: {strays}"
    assert "asyncvm/hal/__init__.py" in files and "asyncvm/modules/vmvx/__init__.py" in files
    with zipfile.ZipFile(wheel) as archive:
        top_level = f"{dist_info}/top_level.txt"
        if top_level in files:
            assert archive.read(top_level).decode().split() == ["asyncvm"]


USER_SCRIPT = textwrap.dedent("""
    import json, os, sys

    import anyio
    import numpy

    import asyncvm
    import asyncvm.hal._native_library as native_library
    import hal, modules
    from modules import vmvx

    site, project, vmfb = sys.argv[1:4]

    def under(module, folder):
        return os.path.realpath(module.__file__).startswith(os.path.realpath(folder) + os.sep)

    assert under(asyncvm, site), f"asyncvm from {asyncvm.__file__}, not the installed wheel"
    assert under(asyncvm.hal, site) and under(asyncvm.modules.vmvx, site)
    assert under(modules, project) and modules.OWNER == "user", modules.__file__
    assert under(hal, project) and hal.OWNER == "user", hal.__file__
    assert vmvx.OWNER == "user" and not hasattr(vmvx, "VmvxModule")
    assert asyncvm.hal is not hal and asyncvm.modules is not modules

    program = asyncvm.load(vmfb)
    a = numpy.array([1.0, 2.0, 3.0, 4.0], numpy.float32)
    b = numpy.array([10.0, 20.0, 30.0, 0.5], numpy.float32)
    (result,) = anyio.run(program.invoke, "add", a, b)
    print(json.dumps({"add": result.tolist(),
                      "workgroup_loop": native_library._run_workgroups is not None}))
""")


def test_user_modules_and_hal_packages_do_not_shadow_asyncvm(site, compile_mlir, tmp_path):
    project = tmp_path / "project"
    for package in ("modules", "hal"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f'OWNER = "user"  # the project\'s {package}\n')
    (project / "modules" / "vmvx.py").write_text('OWNER = "user"\n')
    (project / "main.py").write_text(USER_SCRIPT)
    vmfb = compile_mlir("tensor_basic.mlir")

    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONHOME")}
    environment["PYTHONPATH"] = str(site)  # the wheel, not the checkout
    done = subprocess.run([sys.executable, "main.py", str(site), str(project), str(vmfb)],
                          cwd=project, env=environment, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["add"] == [11.0, 22.0, 33.0, 4.5]
    if shutil.which("cc") or shutil.which("gcc"):
        assert report["workgroup_loop"], "the wheel's asyncvm.hal._workgroup_loop did not import"


# -- the optional C workgroup loop, missing ------------------------------------


@pytest.fixture
def missing_workgroup_loop(monkeypatch):
    """As if ``asyncvm.hal._workgroup_loop`` had not been built."""
    import asyncvm.hal._native_library as native_library
    monkeypatch.setattr(native_library, "_run_workgroups", None)
    monkeypatch.setattr(native_library, "_workgroup_loop_import_error",
                        "ModuleNotFoundError: No module named 'asyncvm.hal._workgroup_loop'")
    monkeypatch.setattr(native_library, "_warned_missing_loop", False)
    monkeypatch.setattr(native_library, "NATIVE_WORKGROUP_LOOP", True)
    return native_library


def loop_warnings(caught) -> list:
    from asyncvm.hal._native_library import WorkgroupLoopWarning
    return [w for w in caught if issubclass(w.category, WorkgroupLoopWarning)]


def test_missing_workgroup_loop_warns_once_when_first_needed(missing_workgroup_loop):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert missing_workgroup_loop._workgroup_loop() is None
        assert missing_workgroup_loop._workgroup_loop() is None
    (warning,) = loop_warnings(caught)
    assert issubclass(warning.category, RuntimeWarning)
    message = str(warning.message)
    assert "asyncvm.hal._workgroup_loop" in message and "Python workgroup loop" in message
    assert "No module named" in message


def test_python_loop_by_choice_does_not_warn(missing_workgroup_loop, monkeypatch):
    monkeypatch.setattr(missing_workgroup_loop, "NATIVE_WORKGROUP_LOOP", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert missing_workgroup_loop._workgroup_loop() is None
    assert loop_warnings(caught) == []


def test_importing_without_the_loop_does_not_warn():
    """The warning waits for a dispatch: importing asyncvm says nothing."""
    code = textwrap.dedent("""
        import sys, warnings
        sys.modules["asyncvm.hal._workgroup_loop"] = None  # import fails: as if not built
        warnings.simplefilter("error")
        import asyncvm, asyncvm.hal._native_library as native_library
        assert native_library._run_workgroups is None
        print("quiet")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stdout.strip() == "quiet", done.stderr


def test_two_dispatches_without_the_loop_warn_once(missing_workgroup_loop, tmp_path):
    import numpy
    from asyncvm.hal import Buffer, DispatchState, SystemLibraryExecutable
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test library")
    library = tmp_path / "fake.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-DFAKE_VERSION=6",
                    str(ROOT / "tests" / "hal" / "native" / "fake_library.c"), "-o", str(library)],
                   check=True)
    executable = SystemLibraryExecutable(library.read_bytes())
    target = Buffer.allocate(16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        executable.dispatch(0, DispatchState((4, 1, 1), (100,), ((target, 0, 16),)))
        executable.dispatch(0, DispatchState((4, 1, 1), (200,), ((target, 0, 16),)))
    assert len(loop_warnings(caught)) == 1
    assert target.array(numpy.uint32, (4,)).tolist() == [200, 201, 202, 203]


# -- CI: a missing test dependency fails instead of skipping ------------------
# (tests/conftest.py's hooks, run in a pytester session of their own)

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

INNER_CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("asyncvm_tests_conftest", {str(CONFTEST)!r})
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)
pytest_sessionstart = real.pytest_sessionstart
pytest_runtest_makereport = real.pytest_runtest_makereport
pytest_make_collect_report = real.pytest_make_collect_report
# The real requirements import IREE's native modules, which must not be
# imported a second time in this process (pytester restores sys.modules
# after every run): a stand-in that is always there.
real.CI_REQUIREMENTS[:] = [("numpy", lambda: real._importable("numpy"))]
"""

SKIPPING_TESTS = """
import pytest

def test_skip_not_installed():
    pytest.skip("frobnicator is not installed")

def test_importorskip():
    pytest.importorskip("asyncvm_test_no_such_module")

@pytest.fixture
def compiler():
    pytest.skip("no C compiler to build the test library")

def test_skip_in_a_fixture(compiler):
    pass

def test_skip_asyncio_only():
    pytest.skip("asyncio task cancellation")

@pytest.mark.skipif(True, reason="integer division traps (SIGFPE) only on x86")
def test_skipif_platform():
    pass

@pytest.mark.xfail(reason="not found yet", strict=True)
def test_expected_failure():
    assert False
"""


@pytest.mark.parametrize("ci", ["true", "1"])
def test_ci_fails_skips_for_missing_dependencies(pytester, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_skips=SKIPPING_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=2, errors=1, skipped=2, xfailed=1)
    for line in ("FAILED test_skips.py::test_skip_not_installed - Skipped: *",
                 "FAILED test_skips.py::test_importorskip - Skipped: could not import *",
                 "ERROR test_skips.py::test_skip_in_a_fixture - Skipped: no C compiler *",
                 "SKIPPED * asyncio task cancellation",
                 "SKIPPED * integer division traps (SIGFPE) only on x86"):
        result.stdout.fnmatch_lines([line])
    assert "a test may not be skipped because a dependency is missing" in str(result.stdout)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("ci", [None, "false", "0", ""])
def test_outside_ci_skips_stay_skips(pytester, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_skips=SKIPPING_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=5, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_ci_fails_a_module_skipped_by_importorskip(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_module_skip="""
        import pytest
        pytest.importorskip("asyncvm_test_no_such_module")

        def test_never_runs():
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert "could not import 'asyncvm_test_no_such_module'" in str(result.stdout)
    assert result.ret != pytest.ExitCode.OK


def test_ci_session_stops_when_a_requirement_is_missing(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(INNER_CONFTEST + """
real.CI_REQUIREMENTS.append(("frobnicator (pip install frobnicator)",
                             lambda: "ModuleNotFoundError: No module named 'frobnicator'"))
""")
    pytester.makepyfile(test_fine="def test_fine():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = f"{result.stdout}\n{result.stderr}"
    assert "test dependencies are missing" in output
    assert "frobnicator (pip install frobnicator): ModuleNotFoundError" in output
    assert "numpy" not in output.split("missing", 1)[1]  # only what is missing
    assert "test_fine" not in output and "passed" not in output  # no test ran
