"""Parameter files: memory-mapping them and choosing their format's reader.

:func:`map_file` maps a file read-only and returns it as a ``uint8`` numpy
array over the mapping (nothing is read until a page is touched, so indexing
a 1 GiB file costs the pages of its header, not 1 GiB). The format readers
(:mod:`._irpa`, :mod:`._safetensors`, :mod:`._gguf`) take that array and
add views of it to a :class:`~._index.ParameterIndex`; :func:`read_parameter_file`
picks the reader by the file's magic bytes, else by its suffix (as IREE
does: ``.irpa``, ``.safetensors``, ``.gguf``, case-insensitive).

Every reader checks every offset and length from the file against the
file's size with Python integers (no wrap-around), so a header that lies is
a :class:`~asyncvm.vm.VMError` (INVALID_ARGUMENT naming the file, and the
parameter where known) and never an IndexError, a struct.error or a read
outside the file.

A mapped file must not be truncated while its entries are in use (the
kernel would raise SIGBUS on access, as for IREE's own mappings).
"""

from __future__ import annotations

import mmap
import os

import numpy

from asyncvm.vm import StatusCode, VMError

FORMATS = ("irpa", "safetensors", "gguf")

_SUFFIXES = {".irpa": "irpa", ".safetensors": "safetensors", ".gguf": "gguf"}


def map_file(path) -> numpy.ndarray:
    """The whole file at ``path`` as a read-only ``uint8`` array over a
    read-only memory mapping (an empty file gives an empty array).
    NOT_FOUND / PERMISSION_DENIED / INVALID_ARGUMENT naming the file when it
    cannot be opened or mapped."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                empty = numpy.zeros(0, numpy.uint8)
                empty.flags.writeable = False
                return empty
            mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise VMError(StatusCode.NOT_FOUND, f"{name}: parameter file not found") from None
    except PermissionError as error:
        raise VMError(StatusCode.PERMISSION_DENIED,
                      f"{name}: cannot open parameter file: {error.strerror}") from None
    except IsADirectoryError:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{name}: is a directory, not a parameter file") from None
    except (OSError, ValueError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{name}: cannot memory-map parameter file: {reason}") from None
    # frombuffer over an ACCESS_READ mapping is a read-only array whose base
    # keeps the mapping alive for as long as any view of it exists.
    return numpy.frombuffer(mapping, dtype=numpy.uint8)


def detect_format(path, data: numpy.ndarray) -> str:
    """``"irpa"``, ``"safetensors"`` or ``"gguf"``: by magic bytes (``IRPA``,
    ``GGUF``), else by suffix, else a safetensors-looking start (a length
    then ``{``). UNIMPLEMENTED naming the file otherwise."""
    head = bytes(data[:9])
    if head[:4] == b"IRPA":
        return "irpa"
    if head[:4] == b"GGUF":
        return "gguf"
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    raise VMError(StatusCode.UNIMPLEMENTED,
                  f"{os.fspath(path)}: unsupported parameter file format; expected an IREE "
                  f"parameter archive (.irpa), a .safetensors or a .gguf file")


def read_parameter_file(index, path, scope: str = "", format: str | None = None) -> None:
    """Adds the parameters of the file at ``path`` to ``index`` under
    ``scope``. ``format`` (``"irpa"``, ``"safetensors"``, ``"gguf"``)
    overrides :func:`detect_format`. Fills ``index`` as it goes: callers
    wanting all-or-nothing pass a fresh index (see
    :meth:`~._index.ParameterIndex.add_file`)."""
    name = os.fspath(path)
    data = map_file(name)
    if format is None:
        format = detect_format(name, data)
    if format == "irpa":
        from . import _irpa
        _irpa.read_irpa(index, data, name, scope)
    elif format == "safetensors":
        from . import _safetensors
        _safetensors.read_safetensors(index, data, name, scope)
    elif format == "gguf":
        from . import _gguf
        _gguf.read_gguf(index, data, name, scope)
    else:
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"{name}: unknown parameter file format {format!r} "
                      f"(expected one of {', '.join(FORMATS)})")


def split_scope(spec: str) -> tuple[str, str]:
    """``(scope, path)`` from IREE's ``--parameters`` form ``[scope=]path``:
    ``my_scope=weights.irpa`` or ``weights.irpa`` (the empty scope). A path
    that exists as given is never split, so paths containing ``=`` work."""
    if "=" in spec and not os.path.exists(spec):
        scope, path = spec.split("=", 1)
        return scope, path
    return "", spec


__all__ = ["FORMATS", "map_file", "detect_format", "read_parameter_file", "split_scope"]
