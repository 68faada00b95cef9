"""IREE calling-convention strings such as ``0iIr_f`` or ``0rCiD_v``.

Grammar: a version character ``0``, the argument kinds, ``_``, the result
kinds. Kinds are ``i`` (i32), ``I`` (i64), ``f`` (f32), ``F`` (f64), ``r``
(ref) and ``v`` (void: no values). ``C`` ... ``D`` encloses a variadic span:
at the call the span is a count followed by that many repetitions of the
enclosed kinds. Parsing is pure and never suspends.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ._status import StatusCode, VMError
from ._values import ValueKind

_KINDS = {kind.value: kind for kind in ValueKind}


@dataclass(frozen=True)
class Span:
    """A variadic span: each repetition holds one value per kind in ``kinds``."""

    kinds: tuple[ValueKind, ...]

    def __str__(self) -> str:
        return "C" + "".join(kind.value for kind in self.kinds) + "D"


Slot = ValueKind | Span


@dataclass(frozen=True)
class CallingConvention:
    """A parsed calling convention: argument slots and result slots."""

    arguments: tuple[Slot, ...]
    results: tuple[Slot, ...]

    @property
    def is_variadic(self) -> bool:
        return any(isinstance(slot, Span) for slot in self.arguments + self.results)

    def __str__(self) -> str:
        return "0" + _render(self.arguments) + "_" + _render(self.results)


def _render(slots: tuple[Slot, ...]) -> str:
    return "".join(str(slot) if isinstance(slot, Span) else slot.value
                   for slot in slots) or "v"


def _parse_slots(text: str, whole: str) -> tuple[Slot, ...]:
    slots: list[Slot] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "v":
            position += 1
        elif char == "C":
            end = text.find("D", position + 1)
            if end < 0:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"calling convention {whole!r}: unterminated span")
            inner = text[position + 1:end]
            try:
                kinds = tuple(_KINDS[c] for c in inner)
            except KeyError as error:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"calling convention {whole!r}: bad kind {error.args[0]!r} "
                              "in span") from None
            slots.append(Span(kinds))
            position = end + 1
        elif char in _KINDS:
            slots.append(_KINDS[char])
            position += 1
        else:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"calling convention {whole!r}: bad kind {char!r}")
    return tuple(slots)


@lru_cache(maxsize=4096)
def parse_calling_convention(text: str) -> CallingConvention:
    """Parses a calling-convention string; raises INVALID_ARGUMENT if malformed."""
    if not text or text[0] != "0":
        raise VMError(StatusCode.INVALID_ARGUMENT,
                      f"calling convention {text!r}: unsupported version")
    body = text[1:]
    arguments, separator, results = body.partition("_")
    if not separator:
        # Some conventions omit results entirely ("0v" style).
        results = ""
    return CallingConvention(_parse_slots(arguments, text), _parse_slots(results, text))
