"""The core of the VM: values, refs, buffers, lists, modules, contexts, invocations.

This floor knows nothing of devices or module kinds. Everything public is
re-exported here.
"""

from ._address import address_of
from ._aligned_memory import (ALLOCATION_ALIGNMENT, MAX_ALLOCATION_BYTES, BlockCounters,
                              aligned_array, aligned_block, aligned_copy, allocate_storage)
from ._buffer import VMBuffer
from ._budget import Budget
from ._cancellation import CancellationToken, current_cancellation
from ._calling_convention import CallingConvention, Span, parse_calling_convention
from ._context import Context, Function
from ._module import split_qualified_name
from ._export_table import Export, export_table
from ._execution_trace import (ExecutionCounts, ExecutionObserver, ExecutionTrace,
                               InstructionSite, count_execution, describe_value,
                               observe_execution, trace_execution)
from ._instance import Instance
from ._invocation import (CALLS_PER_CHECK, DEFAULT_MAX_DEPTH, DEFAULT_QUANTUM, DEFAULT_TIME_SLICE, QUANTUM_CHECK,
                          invoke_callable, register_frame_describer, run_frames, run_frames_sliced,
                          run_frames_sync)
from ._list import VMList
from ._module import (Dependency, FunctionDescriptor, ImportDescriptor, Module,
                      ModuleState, ResolvedImport)
from ._native_module import (NativeModule, NativeModuleState, adapt_export, direct_export,
                             result_normalizer)
from ._ref_types import ANY_REF, RefTypeRegistry, TypeInfo, resolve_type_name
from ._status import FrameLocation, StatusCode, VMError, export_failure
from ._tracing import Tracer, active_tracer, tracing
from ._values import (ValueKind, bits_to_f32, bits_to_f64, f32_to_bits, f64_to_bits,
                      round_f32, wrap_i32, wrap_i64)

__all__ = [
    "ALLOCATION_ALIGNMENT", "MAX_ALLOCATION_BYTES", "BlockCounters", "address_of", "Budget", "CancellationToken", "current_cancellation", "aligned_array", "aligned_block", "aligned_copy", "allocate_storage", "ANY_REF", "CALLS_PER_CHECK", "CallingConvention", "Context", "DEFAULT_MAX_DEPTH", "DEFAULT_QUANTUM",
    "DEFAULT_TIME_SLICE", "Dependency", "ExecutionCounts", "ExecutionObserver",
    "ExecutionTrace", "Export", "adapt_export", "direct_export", "result_normalizer", "QUANTUM_CHECK", "export_failure", "export_table",
    "FrameLocation", "Function", "FunctionDescriptor", "ImportDescriptor", "Instance",
    "InstructionSite", "count_execution", "describe_value", "invoke_callable", "observe_execution",
    "Module", "ModuleState", "NativeModule", "NativeModuleState", "RefTypeRegistry", "ResolvedImport", "Span", "StatusCode",
    "Tracer", "TypeInfo", "VMBuffer", "active_tracer", "tracing", "VMError", "VMList", "ValueKind", "bits_to_f32", "bits_to_f64",
    "f32_to_bits", "f64_to_bits", "parse_calling_convention", "register_frame_describer",
    "resolve_type_name", "round_f32", "run_frames", "run_frames_sliced", "run_frames_sync", "split_qualified_name",
    "trace_execution",
    "wrap_i32", "wrap_i64",
]
