"""asyncvm: run IREE-compiled programs as coroutines from asyncio or trio.

``asyncvm.load(path)`` gives a :class:`Program`; ``await program.invoke(name,
*args)`` calls it; :class:`Batcher` coalesces concurrent calls into batches.
``asyncvm.load(path, parameters={"model": "weights.irpa"})`` (or a
:class:`ParameterIndex` filled from files or numpy arrays) serves programs
whose weights live in parameter files. ``program.set_input``,
``invoke_stateful`` and ``get_outputs`` make stateful calls, and
``program.time_evaluator(name)`` times a function (a
:class:`BenchmarkResult`), as in TVM's Relax VM.

The floors beneath are importable on their own: :mod:`asyncvm.vm` (the core),
:mod:`asyncvm.hal` (devices and the ``hal`` module) and
:mod:`asyncvm.modules` (bytecode, vmvx, check and Python modules).
"""

from . import hal, modules, vm
from ._batcher import Batcher, BatcherStatistics
from ._devices import create_device, default_loaders
from ._function import ProgramFunction
from ._instrument import (DispatchBinding, InstrumentDecision, InstrumentError, InstrumentEvent,
                          InstrumentKind, install_instrument)
from ._profile import ProfileReport, ProfileRow, profile
from ._program import Program, load, load_module, load_modules, parameter_index
from ._signature import FunctionSignature, Parameter, RefType, ScalarType, SpanType, TensorType
from ._time_evaluator import BenchmarkResult
from .modules.io_parameters import IoParametersModule, ParameterIndex
from .modules.python import PythonModule
from .vm import StatusCode, VMError, aligned_array

__all__ = ["Batcher", "BatcherStatistics", "BenchmarkResult", "DispatchBinding",
           "FunctionSignature", "InstrumentDecision", "InstrumentError", "InstrumentEvent",
           "InstrumentKind", "IoParametersModule", "Parameter", "ParameterIndex",
           "ProfileReport", "ProfileRow", "Program", "ProgramFunction", "PythonModule",
           "RefType", "ScalarType", "SpanType", "StatusCode", "TensorType", "VMError",
           "aligned_array", "create_device", "default_loaders", "hal", "install_instrument",
           "load", "load_module", "load_modules", "modules", "parameter_index", "profile", "vm"]
