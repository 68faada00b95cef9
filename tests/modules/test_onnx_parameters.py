"""ONNX models whose weights live in a parameter archive.

Each model is built here with the ``onnx`` package (initializers for its
weights), imported with ``iree-import-onnx --externalize-params`` (the
initializers become ``#stream.parameter.named<"model"::...>`` globals and go
to an ``.irpa`` file), compiled with iree-compile (VMVX and llvm-cpu), run
here from the ``.irpa`` on both drivers, and compared with IREE's runtime on
the same .vmfb and file, and with ONNX's own reference evaluator.
"""

from __future__ import annotations

import subprocess

import numpy
import pytest

import asyncvm
from _command_line import iree_tool

onnx = pytest.importorskip("onnx", reason="onnx is not installed")
runtime = pytest.importorskip("iree.runtime",
                              reason="iree.runtime (iree-base-runtime) is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

pytestmark = pytest.mark.anyio
RANDOM = numpy.random.default_rng(5)

BUILDS = {
    "vmvx": (),
    "llvm-cpu": ("--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=generic"),
}


def f32(*shape):
    return RANDOM.standard_normal(shape).astype(numpy.float32)


def mlp_model():
    """y = Gemm(Relu(Gemm(x, w1, b1)), w2^T, b2)."""
    weights = {"w1": f32(16, 32), "b1": f32(32), "w2": f32(8, 32), "b2": f32(8)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    return _model("mlp", nodes, weights, [2, 16], [2, 8]), f32(2, 16)


def conv_model():
    """y = Relu(Conv(x, w, b)), 3x3 kernels, padded."""
    weights = {"w": f32(4, 3, 3, 3), "b": f32(4)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    return _model("conv", nodes, weights, [1, 3, 8, 8], [1, 4, 8, 8]), f32(1, 3, 8, 8)


def _model(name, nodes, weights, input_shape, output_shape):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        initializer=[numpy_helper.from_array(value, key) for key, value in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


MODELS = {"mlp": mlp_model, "conv": conv_model}


@pytest.fixture(scope="module", params=sorted(MODELS))
def imported(request, tmp_path_factory):
    """(model name, MLIR path, .irpa path, input, ONNX reference output)."""
    tool = iree_tool("iree-import-onnx")
    if tool is None:
        pytest.skip("iree-import-onnx is not installed")
    name = request.param
    model, x = MODELS[name]()
    directory = tmp_path_factory.mktemp(f"onnx-{name}")
    onnx.save(model, directory / f"{name}.onnx")
    mlir, irpa = directory / f"{name}.mlir", directory / f"{name}.irpa"
    subprocess.run([tool, str(directory / f"{name}.onnx"), "--externalize-params",
                    "--num-elements-threshold=0", f"--save-params-to={irpa}", "-o", str(mlir)],
                   check=True, capture_output=True, text=True, timeout=300)
    text = mlir.read_text()
    assert '#stream.parameter.named<"model"::' in text  # the weights are outside
    initializers = [tensor.name for tensor in model.graph.initializer]
    index = asyncvm.parameter_index({"model": str(irpa)})
    assert sorted(entry.key for entry in index) == sorted(initializers)
    expected, = ReferenceEvaluator(model).run(None, {"x": x})
    return name, mlir, irpa, x, expected


@pytest.fixture(scope="module", params=sorted(BUILDS))
def compiled(request, imported, compile_mlir):
    name, mlir, irpa, x, expected = imported
    return compile_mlir(mlir, *BUILDS[request.param]), name, irpa, x, expected


def iree_result(vmfb, function_name, irpa, x, driver):
    config = runtime.Config(driver)
    index = runtime.ParameterIndex()
    index.load(str(irpa))
    parameters = runtime.create_io_parameters_module(config.vm_instance,
                                                     index.create_provider(scope="model"))
    with open(vmfb, "rb") as file:
        module = runtime.VmModule.copy_buffer(config.vm_instance, file.read())
    context = runtime.SystemContext(config=config, vm_modules=[parameters, module])
    return getattr(context.modules, module.name)[function_name](x).to_host()


@pytest.mark.parametrize("driver", ["local-sync", "local-task"])
async def test_onnx_model_from_irpa_matches_iree(compiled, driver):
    vmfb, name, irpa, x, expected = compiled
    reference = iree_result(vmfb, name, irpa, x, driver)
    program = asyncvm.load(vmfb, device=driver, parameters={"model": str(irpa)})
    actual, = await program[name](x)
    numpy.testing.assert_array_equal(actual, reference)
    numpy.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


async def test_onnx_weights_come_from_the_file(compiled):
    """Other weights in the same file give other answers: nothing was
    folded into the program."""
    vmfb, name, irpa, x, expected = compiled
    index = asyncvm.ParameterIndex()
    for entry in asyncvm.parameter_index({"model": str(irpa)}):
        values = numpy.frombuffer(bytes(entry.data), numpy.float32)
        index.add_array("model", entry.key, values * 2)
    doubled, = await asyncvm.load(vmfb, parameters=index)[name](x)
    assert not numpy.allclose(doubled, expected)
