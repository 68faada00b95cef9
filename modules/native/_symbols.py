"""The functions a tvm-ffi shared library exports, read from its ELF file.

tvm-ffi exports a function ``name`` as the C symbol ``__tvm_ffi_name``
(``TVM_FFI_DLL_EXPORT_TYPED_FUNC``); with
``TVM_FFI_DLL_EXPORT_INCLUDE_METADATA`` it adds ``__tvm_ffi__metadata_name``
(the type schema) and ``__tvm_ffi__doc_name``. The library's own symbol
table is the only list of them, so it is read here with pyelftools, without
loading or running anything.
"""

from __future__ import annotations

import os

from asyncvm.vm import StatusCode, VMError

_PREFIX = "__tvm_ffi_"
_SPECIAL = ("_metadata_", "_doc_", "_library_")


def exported_function_names(path: str) -> list[str]:
    """The names of the tvm-ffi functions ``path`` defines, sorted.

    Raises VMError: NOT_FOUND for a missing file, INVALID_ARGUMENT for a
    file that is not an ELF shared library, FAILED_PRECONDITION when
    pyelftools (the ``native`` extra) is not installed. Reads the file; does
    not suspend.
    """
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection
    except ImportError:  # pragma: no cover - the native extra brings it
        raise VMError(StatusCode.FAILED_PRECONDITION,
                      "native modules need pyelftools and apache-tvm-ffi: "
                      "pip install 'asyncvm[native]'") from None
    try:
        with open(path, "rb") as file:
            elf = ELFFile(file)
            if elf.header["e_type"] != "ET_DYN":
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{path}: not a shared library (ELF type {elf.header['e_type']})")
            names = set()
            for section in elf.iter_sections():
                if not isinstance(section, SymbolTableSection) or section.name != ".dynsym":
                    continue
                for symbol in section.iter_symbols():
                    name = symbol.name
                    if (name.startswith(_PREFIX) and symbol["st_shndx"] != "SHN_UNDEF"
                            and symbol["st_info"]["type"] == "STT_FUNC"):
                        names.add(name[len(_PREFIX):])
    except FileNotFoundError:
        raise VMError(StatusCode.NOT_FOUND, f"{path}: no such file") from None
    except IsADirectoryError:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{path}: a directory, not a library") from None
    except OSError as error:
        raise VMError(StatusCode.INVALID_ARGUMENT, f"{path}: {error.strerror or error}") from None
    except (ELFError, ValueError, KeyError, IndexError, AssertionError) as error:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{os.path.basename(path)}: not a readable ELF shared library ({error})") from None
    return sorted(name for name in names if not name.startswith(_SPECIAL))
