"""``embedded-elf-x86_64``: llvm-cpu's default output, loaded without the system loader.

The compiler emits a self-contained, position-independent ELF whose only
dynamic needs are relative relocations and one exported symbol,
``iree_hal_executable_library_query``. This loader checks the layout, maps
the loadable segments into fresh anonymous memory at their virtual offsets,
applies the ``R_X86_64_RELATIVE`` / ``R_X86_64_64`` relocations (every target
checked to lie inside the image), looks the symbol up in the dynamic symbol
table and hands its address to the library ABI (``_native_library``).
Anything else is INVALID_ARGUMENT or UNIMPLEMENTED naming the format —
nothing is executed before the whole image checks out.
"""

from __future__ import annotations

import ctypes
import mmap
import struct

from asyncvm.vm import StatusCode, VMError

from ._native_library import QUERY_SYMBOL, LibraryExecutable

_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
_DYNAMIC_ENTRY = struct.Struct("<qQ")
_RELA = struct.Struct("<QQq")
_SYMBOL = struct.Struct("<IBBHQQ")
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_HASH, _DT_STRTAB, _DT_SYMTAB, _DT_RELA, _DT_RELASZ = 0, 4, 5, 6, 7, 8
_DT_STRSZ, _DT_SYMENT = 10, 11
_R_NONE, _R_64, _R_RELATIVE = 0, 1, 8
_PAGE = mmap.PAGESIZE


class EmbeddedElfExecutable(LibraryExecutable):
    format = "embedded-elf-x86_64"

    def _fail(self, reason: str, status: StatusCode = StatusCode.INVALID_ARGUMENT) -> VMError:
        return VMError(status, f"{self.format} executable: {reason}")

    def _open(self, data: bytes) -> int:
        header = _ELF_HEADER.unpack_from(data, 0)
        program_offset, program_count = header[5], header[10]
        segments = [_PROGRAM_HEADER.unpack_from(data, program_offset + i * _PROGRAM_HEADER.size)
                    for i in range(program_count)]
        loads = [s for s in segments if s[0] == _PT_LOAD]
        size = max(virtual + memory for _, _, _, virtual, _, _, memory, _ in loads)
        size = (size + _PAGE - 1) // _PAGE * _PAGE
        if size <= 0 or size > (1 << 30):
            raise self._fail(f"image size {size} out of range")
        try:
            image = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                              prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except (OSError, ValueError) as error:
            raise self._fail(f"cannot map {size} bytes of executable memory: {error}",
                             StatusCode.RESOURCE_EXHAUSTED) from None
        for _, _, offset, virtual, _, file_size, memory_size, _ in loads:
            if virtual + memory_size > size:
                raise self._fail("segment outside the image")
            image[virtual:virtual + file_size] = data[offset:offset + file_size]
        self._image = image  # keeps the code mapped as long as the executable lives
        base = ctypes.addressof(ctypes.c_char.from_buffer(image))
        dynamic = [s for s in segments if s[0] == _PT_DYNAMIC]
        if not dynamic:
            raise self._fail("no dynamic segment")
        table = self._dynamic_table(image, dynamic[0], size)
        self._relocate(image, base, table, size)
        return base + self._symbol(image, table, size, QUERY_SYMBOL)

    def _dynamic_table(self, image: mmap.mmap, segment, size: int) -> dict[int, int]:
        _, _, _, virtual, _, file_size, _, _ = segment
        table: dict[int, int] = {}
        for position in range(virtual, min(virtual + file_size, size) - 15, _DYNAMIC_ENTRY.size):
            tag, value = _DYNAMIC_ENTRY.unpack_from(image, position)
            if tag == _DT_NULL:
                break
            table.setdefault(tag, value)
        return table

    def _check(self, start: int, length: int, size: int, what: str) -> None:
        if start < 0 or length < 0 or start + length > size:
            raise self._fail(f"{what} [{start}, {start + length}) outside the {size}-byte image")

    def _relocate(self, image: mmap.mmap, base: int, table: dict[int, int], size: int) -> None:
        if _DT_RELA not in table:
            return
        start, length = table[_DT_RELA], table.get(_DT_RELASZ, 0)
        self._check(start, length, size, "relocation table")
        symbols = table.get(_DT_SYMTAB)
        for position in range(start, start + length - _RELA.size + 1, _RELA.size):
            offset, info, addend = _RELA.unpack_from(image, position)
            kind, index = info & 0xFFFFFFFF, info >> 32
            if kind == _R_NONE:
                continue
            self._check(offset, 8, size, "relocation target")
            if kind == _R_RELATIVE:
                value = base + addend
            elif kind == _R_64 and symbols is not None:
                self._check(symbols + index * _SYMBOL.size, _SYMBOL.size, size, "symbol")
                _, _, _, section, symbol_value, _ = _SYMBOL.unpack_from(
                    image, symbols + index * _SYMBOL.size)
                if section == 0:
                    raise self._fail(f"relocation against undefined symbol {index}",
                                     StatusCode.UNIMPLEMENTED)
                value = base + symbol_value + addend
            else:
                raise self._fail(f"relocation type {kind} is not supported",
                                 StatusCode.UNIMPLEMENTED)
            struct.pack_into("<Q", image, offset, value & 0xFFFFFFFFFFFFFFFF)

    def _symbol(self, image: mmap.mmap, table: dict[int, int], size: int, name: str) -> int:
        symbols, strings = table.get(_DT_SYMTAB), table.get(_DT_STRTAB)
        hash_table = table.get(_DT_HASH)
        if symbols is None or strings is None or hash_table is None:
            raise self._fail("no dynamic symbol table")
        self._check(hash_table, 8, size, "hash table")
        count = struct.unpack_from("<I", image, hash_table + 4)[0]
        self._check(symbols, count * _SYMBOL.size, size, "symbol table")
        string_size = table.get(_DT_STRSZ, size - strings)
        self._check(strings, string_size, size, "string table")
        wanted = name.encode()
        for index in range(count):
            name_offset, _, _, section, value, _ = _SYMBOL.unpack_from(
                image, symbols + index * _SYMBOL.size)
            if name_offset >= string_size:
                continue
            end = image.find(b"\0", strings + name_offset, strings + string_size)
            if end >= 0 and image[strings + name_offset:end] == wanted and section != 0:
                self._check(value, 1, size, f"symbol {name}")
                return value
        raise self._fail(f"no {name} symbol", StatusCode.NOT_FOUND)

