"""Native modules: shared libraries whose functions are exported with tvm-ffi.

Needs the ``native`` extra (``apache-tvm-ffi`` and ``pyelftools``); see
:class:`NativeLibraryModule`.
"""

from ._module import NativeFunction, NativeLibraryModule, NativeLibraryState, module_name_of
from ._symbols import exported_function_names
from ._type_schema import NativeSignature, NativeType

__all__ = ["NativeFunction", "NativeLibraryModule", "NativeLibraryState", "NativeSignature",
           "NativeType", "exported_function_names", "module_name_of"]
