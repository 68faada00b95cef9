"""Build configuration beyond pyproject.toml: one optional C extension.

``asyncvm.hal._workgroup_loop`` runs a slice of an llvm-cpu dispatch's workgroups in
one native call (see hal/_workgroup_loop.c). It is optional: without a C
compiler the install still succeeds and hal/_native_library.py falls back to
its Python workgroup loop.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("asyncvm.hal._workgroup_loop", ["hal/_workgroup_loop.c"], optional=True),
])
