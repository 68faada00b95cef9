"""Build configuration beyond pyproject.toml: five optional C extensions.

``asyncvm.hal._workgroup_loop`` runs a slice of an llvm-cpu dispatch's workgroups in
one native call (see hal/_workgroup_loop.c); ``asyncvm.hal._workgroup_team``
spreads one dispatch's workgroups over native threads on local-task (see
hal/_workgroup_team.c); ``asyncvm.vm._memory_address``
reads the address of numpy memory through the buffer protocol (see
asyncvm/vm/_memory_address.c); ``asyncvm.vm._aligned_blocks`` makes the
64-byte-aligned blocks buffers live in, and copies inputs into them (see
asyncvm/vm/_aligned_blocks.c); ``asyncvm.vm._bound_exports`` is the callable a
program calls a native module's export through (see
asyncvm/vm/_bound_exports.c). All are optional: without a C compiler the
install still succeeds and Python fallbacks give the same results, more slowly.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("asyncvm.hal._workgroup_loop", ["hal/_workgroup_loop.c"],
              depends=["hal/_workgroup_abi.h"], optional=True),
    Extension("asyncvm.hal._workgroup_team", ["hal/_workgroup_team.c"],
              depends=["hal/_workgroup_abi.h"], optional=True),
    Extension("asyncvm.vm._memory_address", ["asyncvm/vm/_memory_address.c"], optional=True),
    Extension("asyncvm.vm._aligned_blocks", ["asyncvm/vm/_aligned_blocks.c"], optional=True),
    Extension("asyncvm.vm._bound_exports", ["asyncvm/vm/_bound_exports.c"], optional=True),
])
