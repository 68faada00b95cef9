"""`asyncvm run` with i4, i2, i1, bf16 and the f8 types, line for line
against iree-run-module (3.13) where that tool can do it.

What iree-run-module does with these types (runtime/src/iree/hal/string_util.c):
bf16 and f8 parse through f32 (``iree_math_f32_to_*``) and print ``%G`` of
the value widened to f32 (NaN always positive); i1 is one hex byte per
element, stored and printed as given; i4/i2 inputs are one hex byte per
*packed* byte (``4xi4=21 43`` is 1 2 3 4). It cannot print i4/i2 results
("OUT_OF_RANGE; printing results"): asyncvm prints them in decimal."""

from __future__ import annotations

import pathlib
import random
import subprocess

import pytest
from _command_line import iree_tool

from asyncvm.tools import main

NARROW_FLOATS = ["f16", "bf16", "f8E5M2", "f8E4M3FN", "f8E5M2FNUZ", "f8E4M3FNUZ", "f8E8M0FNU"]
# Ties, subnormal edges, overflow, NaN/inf/signed zero for every narrow float type
# (0.001 in f8E4M3FN is where IREE's rounding gives 0 and round-to-nearest would not).
TRICKY = ["0", "-0", "inf", "-inf", "nan", "-nan", "1", "-1", "0.001", "0.0009765625", "0.00098",
          "464", "470", "480", "1000", "448", "240", "57344", "61440", "65504", "65520", "1e-40",
          "3.4e38", "1e39", "0.75", "0.74", "1.5", "3", "0.3", "2.5e-5", "7.62939453125e-06",
          "5.9604645e-08"]


@pytest.fixture(scope="module")
def iree_run_module() -> str:
    tool = iree_tool("iree-run-module")
    if tool is None:
        pytest.skip("iree-run-module is not installed")
    return tool


def run_both(capsys, tool: str, *flags: str) -> tuple[tuple[int, str, str], subprocess.CompletedProcess]:
    code = main(["run", *flags])
    captured = capsys.readouterr()
    theirs = subprocess.run([tool, *flags], capture_output=True, text=True, timeout=120)
    return (code, captured.out, captured.err), theirs


def assert_same_output(capsys, tool: str, *flags: str) -> list[str]:
    (code, out, err), theirs = run_both(capsys, tool, *flags)
    assert theirs.returncode == 0, theirs.stderr
    assert code == 0, err
    assert out.splitlines() == theirs.stdout.splitlines()
    return out.splitlines()


@pytest.fixture(scope="module")
def text_program(compile_mlir) -> pathlib.Path:
    return compile_mlir("types_text.mlir")


@pytest.fixture(scope="module")
def subbyte_program(compile_mlir) -> pathlib.Path:
    return compile_mlir("types_subbyte.mlir")


# -- bf16 and f8 -------------------------------------------------------------------------------

@pytest.mark.parametrize("element", NARROW_FLOATS)
def test_narrow_floats_parse_and_print_as_iree_does(capsys, iree_run_module, text_program, element):
    rng = random.Random(element)
    randoms = [repr(rng.choice([-1, 1]) * 2.0 ** rng.uniform(-30, 17) * rng.random())
               for _ in range(32)]
    for values in (TRICKY[:32], randoms):
        lines = assert_same_output(capsys, iree_run_module, f"--module={text_program}",
                                   f"--function=id_{element}", f"--input=32x{element}=" + " ".join(values))
        assert lines[2].startswith(f"32x{element}=")


@pytest.mark.parametrize("element", NARROW_FLOATS)
def test_every_bit_pattern_prints_as_iree_prints_it(capsys, iree_run_module, text_program, element):
    if element.startswith("f8"):
        codes = " ".join(str(code - 256 if code > 127 else code) for code in range(256))
        flags = [f"--input=16x16xi8={codes}"]
    else:  # every high byte with four low bytes
        patterns = [(high << 8) | low for low in (0x00, 0x01, 0x40, 0x7F) for high in range(256)]
        flags = ["--input=4x256xi16=" + " ".join(str(p - 65536 if p > 32767 else p) for p in patterns)]
    assert_same_output(capsys, iree_run_module, f"--module={text_program}",
                       f"--function=bits_{element}", *flags)


def test_f32_nan_keeps_its_sign_and_scalars_work(capsys, iree_run_module, text_program,
                                                 compile_mlir):
    lines = assert_same_output(capsys, iree_run_module, f"--module={text_program}",
                               "--function=id_f32", "--input=4xf32=-nan nan -inf 1e-40")
    assert lines[2] == "4xf32=-NAN NAN -INF 9.99995E-41"
    floats = compile_mlir("types_float.mlir")
    lines = assert_same_output(capsys, iree_run_module, f"--module={floats}",
                               "--function=scalar_bf16", "--input=bf16=3.14159")
    assert lines[2] == "bf16=3.14062"


def test_narrow_float_conversions_run_as_in_iree(capsys, iree_run_module, compile_mlir):
    floats = compile_mlir("types_float.mlir")
    samples = "--input=6xf32=0.3 -2.5 1000 1e-06 448 -0"
    for function in ("trunc_bf16", "trunc_f8E4M3FN", "trunc_f8E5M2", "trunc_f8E4M3FNUZ",
                     "trunc_f8E5M2FNUZ", "trunc_f8E8M0FNU"):
        assert_same_output(capsys, iree_run_module, f"--module={floats}",
                           f"--function={function}", samples)
    assert_same_output(capsys, iree_run_module, f"--module={floats}", "--function=matmul_bf16",
                       "--input=2x3xbf16=[1 2 3][4 5 6]", "--input=3x2xbf16=1,2,3,4,5,6.5")
    assert_same_output(capsys, iree_run_module, f"--module={floats}", "--function=add_f8E4M3FN",
                       "--input=6xf8E4M3FN=1 2 3 400 -0 0.01", "--input=6xf8E4M3FN=0.125")


# -- i1 ------------------------------------------------------------------------------------------

def test_i1_is_one_hex_byte_per_element_in_and_out(capsys, iree_run_module, subbyte_program):
    flags = [f"--module={subbyte_program}"]
    lines = assert_same_output(capsys, iree_run_module, *flags, "--function=not_i1",
                               "--input=4xi1=01 00 01 01")
    assert lines[2] == "4xi1=00 01 00 00"
    # Bytes are kept as given (the program then looks at the low bit).
    lines = assert_same_output(capsys, iree_run_module, *flags, "--function=id_i1",
                               "--input=2x3xi1=[00 01 02][FF 7f 01]")
    assert lines[2] == "2x3xi1=[00 01 02][FF 7F 01]"
    assert_same_output(capsys, iree_run_module, *flags, "--function=not_i1",
                       "--input=4xi1=02,FF,00,01")
    assert_same_output(capsys, iree_run_module, *flags, "--function=less_i1",
                       "--input=5xi32=1 5 3 0 -2", "--input=5xi32=2 4 3 1 -3")
    assert_same_output(capsys, iree_run_module, *flags, "--function=select_i1",
                       "--input=4xi1=01", "--input=4xf32=1 2 3 4", "--input=4xf32=5")
    assert_same_output(capsys, iree_run_module, *flags, "--function=id_i1", "--input=2x3xi1")


# -- i4 and i2 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("function, inputs", [
    ("extsi_i4", ["8xi4=21 43 F8 9A"]),
    ("extui_i4", ["8xi4=21 43 F8 9A"]),
    ("extsi_i4", ["8xi4=7F"]),  # one byte splatted over the packed bytes
    ("extsi_i4", ["8xi4"]),  # zeros
    ("add_i4_widened", ["4xi4=[21 43]", "4xi4=FF,81"]),
    ("sitofp_i4", ["2x4xi4=[12 34][F0 8E]"]),
    ("extsi_i2", ["8xi2=E4 1B"]),
    ("trunc_i4", ["8xi32=0 1 7 8 15 16 -1 -9"]),
])
def test_sub_byte_inputs_are_irees_packed_hex_bytes(capsys, iree_run_module, subbyte_program,
                                                     function, inputs):
    flags = [f"--module={subbyte_program}", f"--function={function}"]
    flags += [f"--input={text}" for text in inputs]
    (code, out, err), theirs = run_both(capsys, iree_run_module, *flags)
    assert code == 0, err
    if function == "trunc_i4":
        # An i4 result: iree-run-module cannot print it.
        assert theirs.returncode != 0
        assert "OUT_OF_RANGE; printing results" in theirs.stderr
        assert out.splitlines()[2] == "8xi4=0 1 7 -8 -1 0 -1 7"
    else:
        assert theirs.returncode == 0, theirs.stderr
        assert out.splitlines() == theirs.stdout.splitlines()


@pytest.mark.parametrize("function, inputs, widened, expected", [
    ("add_i4", ["4xi4=[21 43]", "4xi4=FF,81"], "add_i4_widened", "4xi4=0 1 4 -4"),
    ("id_i4", ["2x4xi4=21 43 B5 8C"], None, "2x4xi4=[1 2 3 4][5 -5 -4 -8]"),
    ("mul_i4", ["2x4xi4=21 43 B5 8C", "2x4xi4=22"], None, "2x4xi4=[2 4 6 -8][-6 6 -8 0]"),
    ("id_si4", ["4xsi4=F0 87"], None, "4xsi4=0 -1 7 -8"),
    ("id_ui4", ["4xui4=F0 87"], None, "4xui4=0 15 7 8"),
    ("add_i2", ["8xi2=E4 1B", "8xi2=55"], None, "8xi2=1 -2 -1 0 0 -1 -2 1"),
    ("trunc_i2", ["2x4xi32=[0 1 2 3][4 -1 -2 -5]"], None, "2x4xi2=[0 1 -2 -1][0 -1 -2 -1]"),
])
def test_sub_byte_results_print_in_decimal(capsys, iree_run_module, subbyte_program, function,
                                           inputs, widened, expected):
    flags = [f"--module={subbyte_program}"] + [f"--input={text}" for text in inputs]
    code = main(["run", *flags, f"--function={function}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == [f"EXEC @{function}", "result[0]: hal.buffer_view", expected]
    theirs = subprocess.run([iree_run_module, *flags, f"--function={function}"],
                            capture_output=True, text=True, timeout=120)
    assert theirs.returncode != 0 and "OUT_OF_RANGE; printing results" in theirs.stderr
    if widened:  # IREE's own answer, widened to i32 so that its tool can print it
        theirs = subprocess.run([iree_run_module, *flags, f"--function={widened}"],
                                capture_output=True, text=True, timeout=120, check=True)
        assert theirs.stdout.splitlines()[2].split("=")[1] == expected.split("=")[1]


def test_one_decimal_value_per_element_is_also_accepted(capsys, subbyte_program):
    flags = [f"--module={subbyte_program}", "--function=add_i4"]
    assert main(["run", *flags, "--input=4xi4=1,2,-3,-8", "--input=4xi4=[0 0 0 15]"]) == 0
    decimal = capsys.readouterr().out
    assert main(["run", *flags, "--input=4xi4=21 8D", "--input=4xi4=00 F0"]) == 0
    assert capsys.readouterr().out == decimal
    assert decimal.splitlines()[2] == "4xi4=1 2 -3 7"


@pytest.mark.parametrize("text, status, fragment", [
    ("4xi4=1 2 3", "OUT_OF_RANGE", "3 values for 4 i4 elements, which take 2 packed bytes"),
    ("4xi4=123 45", "INVALID_ARGUMENT", "'123' is not a hex byte"),
    ("4xi4=G1 45", "INVALID_ARGUMENT", "'G1' is not a hex byte"),
    ("4xi4=1 2 3 16", "INVALID_ARGUMENT", "16 is out of range for i4 [-8, 15]"),
    ("4xi4=1 2 3 -9", "INVALID_ARGUMENT", "-9 is out of range for i4 [-8, 15]"),
    ("4xi4=1 2 x 3", "INVALID_ARGUMENT", "invalid literal"),
    ("4xi3=1 2", "INVALID_ARGUMENT", "unknown element type 'i3'"),
])
def test_bad_sub_byte_inputs_are_reported_naming_the_input(capsys, subbyte_program, text, status,
                                                           fragment):
    code = main(["run", f"--module={subbyte_program}", "--function=add_i4", f"--input={text}",
                 "--input=4xi4"])
    out, err = capsys.readouterr()
    assert code == 1
    assert status in err and fragment in err and "input 0" in err


@pytest.mark.parametrize("text, status, fragment", [
    ("4xi1=1 0 2", "OUT_OF_RANGE", "3 values for 4 elements"),
    ("4xi1=100 0 0 0", "INVALID_ARGUMENT", "'100' is not a hex byte"),
])
def test_bad_i1_inputs_are_reported(capsys, subbyte_program, text, status, fragment):
    code = main(["run", f"--module={subbyte_program}", "--function=not_i1", f"--input={text}"])
    out, err = capsys.readouterr()
    assert code == 1 and status in err and fragment in err


def test_sub_byte_input_counts_iree_rejects_fail_here_too(capsys, iree_run_module,
                                                          subbyte_program):
    # Three hex bytes for two packed bytes: both tools refuse (OUT_OF_RANGE).
    (code, out, err), theirs = run_both(capsys, iree_run_module, f"--module={subbyte_program}",
                                        "--function=extsi_i4", "--input=8xi4=11 22 33")
    assert code == 1 and theirs.returncode != 0
    assert "OUT_OF_RANGE" in err and "OUT_OF_RANGE" in theirs.stderr
