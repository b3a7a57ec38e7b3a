"""Just enough of ELF to read a BPF object's sections by name.

BPF objects are 64-bit little-endian ELF relocatable files (``EM_BPF``);
nothing else is accepted.
"""

from __future__ import annotations

import struct
from typing import Final

_MAGIC: Final = b"\x7fELF"
_CLASS64: Final = 2
_LITTLE: Final = 1
EM_BPF: Final = 247
# e_ident, e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags,
# e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
_HEADER: Final = struct.Struct("<16sHHIQQQIHHHHHH")
# sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
# sh_addralign, sh_entsize
_SECTION: Final = struct.Struct("<IIQQQQIIQQ")
_SHT_NOBITS: Final = 8


class ElfError(ValueError):
    """The file is not a BPF object this reader understands."""


def sections(data: bytes) -> dict[str, bytes]:
    """Every section of a BPF object, by name, with its contents."""
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        msg = "not an ELF file"
        raise ElfError(msg)
    head = _HEADER.unpack_from(data)
    ident, machine = head[0], head[2]
    if ident[4] != _CLASS64 or ident[5] != _LITTLE or machine != EM_BPF:
        msg = f"not a 64-bit little-endian BPF object (machine {machine})"
        raise ElfError(msg)
    shoff, shentsize, shnum, shstrndx = head[6], head[11], head[12], head[13]
    if shentsize != _SECTION.size or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        msg = "section header table out of bounds"
        raise ElfError(msg)
    headers = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]

    def contents(h: tuple[int, ...]) -> bytes:
        if h[1] == _SHT_NOBITS:
            return b""
        offset, size = h[4], h[5]
        if offset + size > len(data):
            msg = "section out of bounds"
            raise ElfError(msg)
        return data[offset : offset + size]

    names = contents(headers[shstrndx])
    out: dict[str, bytes] = {}
    for h in headers[1:]:
        end = names.find(b"\0", h[0])
        out[names[h[0] : end].decode("utf-8", "replace")] = contents(h)
    return out
