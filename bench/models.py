"""Latency of the ONNX model-zoo networks the onnx wheel ships: asyncvm vs iree.runtime.

    python bench/models.py [--model NAME ...] [--device local-sync|local-task ...]
        [--rounds R] [--calls N] [--weights shipped|random] [--opset N] [--list]

The onnx wheel carries light copies of model-zoo networks under
onnx/backend/test/data/light (squeezenet, shufflenet, resnet50, inception_v1,
...): the real graphs, with every weight a ConstantOfShape splat of 0.02, so
each file is a few kB. ``--list`` shows them; by default squeezenet,
shufflenet, resnet50 and inception_v1 run. Each model's opset is raised to
``--opset`` (onnx.version_converter; IREE's importer lowers few ops at opset
9), then it is imported with iree-import-onnx and compiled with iree-compile
for llvm-cpu on this host's CPU. The .vmfb is cached under the system temp
directory, keyed by model, compiler version and everything else that goes
into it, so a second run starts at once; the script says when it compiles.

Then, per model and device, the same .vmfb is loaded in iree.runtime and in
asyncvm, both are called with one random input (seed 0, the model's input
shape and dtype, 64-byte aligned so asyncvm needs no copy; iree.runtime copies
every input), the answers are checked bit for bit, and ``--rounds`` rounds of
``--calls`` calls are timed, alternating an iree.runtime round and an asyncvm
round in this one process. Prints the median time per call of each, the ratio
asyncvm / iree.runtime, and a summary line per device.

With the shipped splat weights every class gets the same score, so each
answer is the uniform softmax (0.001 everywhere) whatever the layers compute.
``--weights random`` replaces the splats with seeded random weights (He-scaled
convolution and Gemm weights, batch-norm statistics near one) so the answers
depend on every layer and the bit-for-bit check means something; the .vmfb
then carries the weights (about 100 MB for resnet50) and compiles slower.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import math
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import anyio
import numpy
import onnx
import onnx.numpy_helper
import onnx.version_converter

import asyncvm

DEFAULT_MODELS = ["squeezenet", "shufflenet", "resnet50", "inception_v1"]
COMPILE_FLAGS = ["--iree-hal-target-device=local",
                 "--iree-hal-local-target-device-backends=llvm-cpu",
                 "--iree-llvmcpu-target-cpu=host"]
CACHE = pathlib.Path(tempfile.gettempdir()) / "asyncvm-bench-models"


# -- the models -------------------------------------------------------------------------

def light_directory() -> pathlib.Path:
    return pathlib.Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "light"


def available_models() -> dict[str, pathlib.Path]:
    """Model name (without ``light_``) -> its .onnx file; a model is a
    ``light_NAME.onnx`` file (``light_NAME_output_0.pb`` beside it is the
    reference answer) or, in other onnx releases, a folder with model.onnx."""
    models = {}
    for entry in sorted(light_directory().iterdir()):
        name = entry.name.removeprefix("light_")
        if entry.is_dir() and (entry / "model.onnx").is_file():
            models[name] = entry / "model.onnx"
        elif entry.suffix == ".onnx":
            models[entry.stem.removeprefix("light_")] = entry
    return models


def model_inputs(model: onnx.ModelProto) -> list[tuple[str, tuple[int, ...], numpy.dtype]]:
    """(name, shape, dtype) of each graph input that is not an initializer; a
    symbolic dimension counts as 1 (as onnx's own backend tests take it)."""
    initialized = {initializer.name for initializer in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initialized:
            continue
        tensor = value.type.tensor_type
        shape = tuple(dimension.dim_value if dimension.HasField("dim_value") else 1
                      for dimension in tensor.shape.dim)
        inputs.append((value.name, shape,
                       numpy.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))))
    return inputs


def opset_of(model: onnx.ModelProto) -> int:
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))


def random_weight(generator, shape: tuple[int, ...], consumer: onnx.NodeProto | None,
                  position: int) -> numpy.ndarray:
    """Values for a weight by the role its consumer gives it."""
    kind = consumer.op_type if consumer is not None else None
    if kind == "Conv" and position == 1:
        return generator.standard_normal(shape) * math.sqrt(2 / max(1, math.prod(shape[1:])))
    if kind in ("Gemm", "MatMul") and position == 1:
        transposed = kind == "Gemm" and any(attribute.name == "transB" and attribute.i
                                            for attribute in consumer.attribute)
        inputs = shape[-1] if transposed else math.prod(shape) // max(1, shape[-1])
        return generator.standard_normal(shape) * math.sqrt(2 / max(1, inputs))
    if (kind == "BatchNormalization" and position == 4):
        return generator.uniform(0.5, 1.5, shape)  # variances
    if (kind == "BatchNormalization" and position == 1) or kind == "Mul":
        # Inference-mode batch norm does not normalize: scales below one keep
        # residual sums from growing block after block (to a one-hot softmax).
        return generator.uniform(0.3, 0.7, shape)
    return generator.standard_normal(shape) * 0.1  # biases, means, shifts


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> None:
    """Replaces every splat weight (ConstantOfShape of a constant shape) by a
    seeded random initializer, in place. The role of a weight is read from
    the node that uses it, looking through Reshape, Unsqueeze and Flatten."""
    constants = {initializer.name: onnx.numpy_helper.to_array(initializer)
                 for initializer in model.graph.initializer}
    users: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            users.setdefault(name, []).append((node, position))

    def role(name: str) -> tuple[onnx.NodeProto | None, int]:
        for _ in range(4):
            if not users.get(name):
                return None, 0
            node, position = users[name][0]
            if node.op_type not in ("Reshape", "Unsqueeze", "Flatten") or position != 0:
                return node, position
            name = node.output[0]
        return None, 0

    generator = numpy.random.default_rng(seed)
    kept, weights = [], []
    for node in model.graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in constants:
            kept.append(node)
            continue
        shape = tuple(int(size) for size in constants[node.input[0]])
        value = (onnx.numpy_helper.to_array(node.attribute[0].t) if node.attribute
                 else numpy.zeros(1, numpy.float32))
        if value.dtype.kind == "f":
            values = random_weight(generator, shape, *role(node.output[0])).astype(value.dtype)
        else:
            values = numpy.full(shape, value.reshape(-1)[0])
        weights.append(onnx.numpy_helper.from_array(values, node.output[0]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.graph.initializer.extend(weights)
    # Before IR version 4 every initializer had to be a graph input too.
    model.ir_version = max(model.ir_version,
                           onnx.helper.find_min_ir_version_for(list(model.opset_import)))


# -- compiling --------------------------------------------------------------------------

def tool(name: str, module: str) -> list[str]:
    """The console script next to this Python, else ``python -m module``."""
    script = pathlib.Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def compiler_version() -> str:
    from iree.compiler import version

    return version.VERSION


def run_tool(command: list[str]) -> None:
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr[-4000:]}")


def build(name: str, source: pathlib.Path, opset: int, weights: str) -> pathlib.Path:
    """The model's .vmfb, from the cache or compiled now (saying so)."""
    randomizer = (inspect.getsource(randomize_weights) + inspect.getsource(random_weight)
                  if weights == "random" else "")
    recipe = "\n".join([source.read_bytes().hex(), str(opset), weights, randomizer,
                        onnx.__version__, *COMPILE_FLAGS]).encode()
    digest = hashlib.sha256(recipe).hexdigest()[:12]
    vmfb = CACHE / compiler_version() / f"{name}-{weights}-{digest}.vmfb"
    if vmfb.exists():
        print(f"{name}: cached {vmfb}")
        return vmfb
    vmfb.parent.mkdir(parents=True, exist_ok=True)
    print(f"{name}: compiling ({weights} weights) ...", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        began = time.perf_counter()
        model = onnx.load(str(source))
        original = opset_of(model)
        if original < opset:
            model = onnx.version_converter.convert_version(model, opset)
        if weights == "random":
            randomize_weights(model)
        prepared = pathlib.Path(scratch) / f"{name}.onnx"
        onnx.save(model, str(prepared))
        mlir = pathlib.Path(scratch) / f"{name}.mlir"
        run_tool([*tool("iree-import-onnx", "iree.compiler.tools.import_onnx"),
                  str(prepared), "-o", str(mlir)])
        imported = time.perf_counter()
        partial = vmfb.with_suffix(".partial")
        run_tool([*tool("iree-compile", "iree.compiler.tools.scripts.iree_compile"),
                  str(mlir), *COMPILE_FLAGS, "-o", str(partial)])
        partial.replace(vmfb)
        compiled = time.perf_counter()
    print(f"{name}: compiled: opset {original} -> {max(original, opset)} and "
          f"iree-import-onnx {imported - began:.1f} s, iree-compile {compiled - imported:.1f} s, "
          f"{vmfb.stat().st_size / 1e6:.2f} MB -> {vmfb}")
    return vmfb


# -- the two runtimes -------------------------------------------------------------------

class IreeProgram:
    def __init__(self, data: bytes, device: str, function: str):
        import iree.runtime as runtime

        config = runtime.Config(device)
        module = runtime.VmModule.copy_buffer(config.vm_instance, data)
        self.context = runtime.SystemContext(config=config, vm_modules=[module])
        self.function = getattr(self.context.modules, module.name)[function]

    def call(self, inputs) -> tuple:
        results = self.function(*inputs)
        results = results if isinstance(results, (list, tuple)) else (results,)
        return tuple(result.to_host() if hasattr(result, "to_host") else result
                     for result in results)


def iree_round(program: IreeProgram, inputs, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        program.call(inputs)
    return (time.perf_counter() - began) / calls


async def asyncvm_round(program: asyncvm.Program, function: str, inputs, calls: int) -> float:
    invoke = program.invoke
    began = time.perf_counter()
    for _ in range(calls):
        await invoke(function, *inputs)
    return (time.perf_counter() - began) / calls


def difference(expected: tuple, actual: tuple) -> str | None:
    """None if both answers are bit-identical, else what differs."""
    if len(expected) != len(actual):
        return f"{len(expected)} results vs {len(actual)}"
    for index, (left, right) in enumerate(zip(expected, actual)):
        left, right = numpy.asarray(left), numpy.asarray(right)
        if left.shape != right.shape or left.dtype != right.dtype:
            return (f"result {index}: {left.dtype}{list(left.shape)} vs "
                    f"{right.dtype}{list(right.shape)}")
        if not numpy.array_equal(left, right, equal_nan=left.dtype.kind in "fc"):
            gap = numpy.max(numpy.abs(left.astype(numpy.float64) - right.astype(numpy.float64)))
            return (f"result {index}: {numpy.count_nonzero(left != right)} of {left.size} "
                    f"elements differ, largest difference {gap:.3g}")
    return None


def measure(name: str, data: bytes, device: str, inputs, rounds: int, calls: int) -> dict:
    program = asyncvm.load(data, device=device)
    functions = [function for function in program.export_names if "$" not in function]
    function = functions[0]
    iree = IreeProgram(data, device, function)
    began = time.perf_counter()
    expected = iree.call(inputs)
    iree_first = time.perf_counter() - began
    began = time.perf_counter()
    actual = anyio.run(program.invoke, function, *inputs)
    asyncvm_first = time.perf_counter() - began
    problem = difference(expected, actual)
    iree_times, asyncvm_times = [], []
    for _ in range(rounds):
        iree_times.append(iree_round(iree, inputs, calls))
        asyncvm_times.append(anyio.run(asyncvm_round, program, function, inputs, calls))
    return {"function": function, "iree": statistics.median(iree_times),
            "asyncvm": statistics.median(asyncvm_times), "iree first": iree_first,
            "asyncvm first": asyncvm_first, "problem": problem,
            "answer": ", ".join(f"{numpy.asarray(value).dtype}{list(numpy.shape(value))}"
                                for value in expected)}


# -- the command ------------------------------------------------------------------------

def list_models(models: dict[str, pathlib.Path]) -> None:
    print(f"models in {light_directory()} (* = run by default):")
    for name, path in models.items():
        model = onnx.load(str(path))
        inputs = ", ".join(f"{dtype}{list(shape)}" for _, shape, dtype in model_inputs(model))
        print(f"  {'*' if name in DEFAULT_MODELS else ' '} {name:16} opset {opset_of(model):2}  "
              f"{len(model.graph.node):5} nodes  input {inputs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", metavar="NAME",
                        help=f"a model to run, repeatable (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--device", action="append", choices=["local-sync", "local-task"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3, help="calls per round")
    parser.add_argument("--weights", choices=["shipped", "random"], default="shipped")
    parser.add_argument("--opset", type=int, default=17,
                        help="raise older models to this opset before importing")
    parser.add_argument("--list", action="store_true", help="list the models and stop")
    arguments = parser.parse_args()
    models = available_models()
    if arguments.list:
        list_models(models)
        return
    names = [name.removeprefix("light_") for name in arguments.model or DEFAULT_MODELS]
    unknown = [name for name in names if name not in models]
    if unknown:
        raise SystemExit(f"unknown model {', '.join(unknown)}; known: {', '.join(models)}")
    devices = arguments.device or ["local-sync", "local-task"]

    programs = {name: build(name, models[name], arguments.opset, arguments.weights)
                for name in names}
    print(f"\n{arguments.weights} weights, llvm-cpu for this host, iree-compile "
          f"{compiler_version()}; median of {arguments.rounds} rounds x {arguments.calls} calls")
    print(f"  {'model':14} {'device':10} {'iree.runtime':>14} {'asyncvm':>14} {'ratio':>7}  "
          f"{'first call (iree / asyncvm)':>28}  answers")
    results: dict[str, list[dict]] = {device: [] for device in devices}
    for name in names:
        data = programs[name].read_bytes()
        model = onnx.load(str(models[name]))
        generator = numpy.random.default_rng(0)
        inputs = [asyncvm.aligned_array(generator.random(shape).astype(dtype)
                                        if dtype.kind == "f" else
                                        generator.integers(0, 2, shape).astype(dtype))
                  for _, shape, dtype in model_inputs(model)]
        for device in devices:
            result = measure(name, data, device, inputs, arguments.rounds, arguments.calls)
            results[device].append(result)
            answers = (f"bit-identical {result['answer']}" if result["problem"] is None
                       else f"DIFFER: {result['problem']}")
            print(f"  {name:14} {device:10} {result['iree'] * 1e3:11.1f} ms "
                  f"{result['asyncvm'] * 1e3:11.1f} ms {result['asyncvm'] / result['iree']:6.2f}x  "
                  f"{result['iree first'] * 1e3:12.0f} / {result['asyncvm first'] * 1e3:6.0f} ms"
                  f"     {answers}", flush=True)
    print()
    for device, measured in results.items():
        ratios = [result["asyncvm"] / result["iree"] for result in measured]
        iree_total = sum(result["iree"] for result in measured)
        asyncvm_total = sum(result["asyncvm"] for result in measured)
        identical = sum(result["problem"] is None for result in measured)
        print(f"  {device:10} {len(measured)} models: iree.runtime {iree_total * 1e3:.1f} ms, "
              f"asyncvm {asyncvm_total * 1e3:.1f} ms per call of each; ratio of totals "
              f"{asyncvm_total / iree_total:.2f}x, geometric mean "
              f"{statistics.geometric_mean(ratios):.2f}x (range {min(ratios):.2f}-"
              f"{max(ratios):.2f}); bit-identical {identical}/{len(measured)}")


if __name__ == "__main__":
    main()
