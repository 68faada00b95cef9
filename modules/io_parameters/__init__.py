"""Parameters kept outside a program: the ``io_parameters`` module and the
parameter index it reads from (``.irpa``, ``.safetensors`` and ``.gguf``).

A program whose globals are ``#flow.parameter.named<"scope"::"key">`` imports
``io_parameters.*``; :class:`IoParametersModule` serves those imports from a
:class:`ParameterIndex` (``asyncvm.load(..., parameters=...)`` registers one
for you, after the HAL). ``ParameterIndex.add_file`` and
:func:`load_parameter_file` map parameter files; ``add_array`` adds numpy
arrays.
"""

from ._files import split_scope
from ._index import ParameterEntry, ParameterIndex, load_parameter_file
from ._irpa import write_irpa
from ._module import (IO_PARAMETERS_EXPORTS, IO_PARAMETERS_MODULE_VERSION, IoParametersModule,
                      IoParametersModuleState)

__all__ = ["IO_PARAMETERS_EXPORTS", "IO_PARAMETERS_MODULE_VERSION", "IoParametersModule",
           "IoParametersModuleState", "ParameterEntry", "ParameterIndex", "load_parameter_file",
           "split_scope", "write_irpa"]
