"""What a program's function takes and returns, from its reflection attributes.

IREE's compiler records each public function's source signature in the
export's reflection attribute ``iree.abi.declaration``, for example::

    sync func @add(%input0: tensor<4xf32>, %input1: tensor<4xf32>) -> (%output0: tensor<4xf32>)

:func:`function_signature` parses it into :class:`Parameter` objects whose
types are :class:`TensorType` (element type, numpy dtype, shape with ``None``
for a dynamic ``?`` dimension), :class:`ScalarType` or :class:`RefType`.
Older frontends wrote a JSON ``iree.abi`` attribute instead (``{"a": [...],
"r": [...], "v": 1}``); it is read when there is no declaration. Failing
both (a hand-written VM module, a Python module, a declaration a frontend
replaced with free text, or one that disagrees with the calling convention),
the signature falls back to the calling convention: ``i32``, ``i64``,
``f32``, ``f64``, ``ref`` and variadic spans. Bad or unfamiliar attributes
never raise: they only lose detail.

Types print as MLIR spells them, so the signatures read as the program's
source: ``add(input0: tensor<4xf32>, input1: tensor<4xf32>) -> (output0:
tensor<4xf32>)``.
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
from dataclasses import dataclass
from typing import Mapping, Union

import numpy

from .hal import ElementType
from .vm import CallingConvention, Span, ValueKind, VMError, parse_calling_convention

DECLARATION = "iree.abi.declaration"
ABI_JSON = "iree.abi"
REFLECTION = "iree.reflection"


def _dtype_of(element_type: str) -> numpy.dtype | None:
    """The numpy dtype of an MLIR element type (the HAL's table), or None."""
    if element_type == "index":
        return numpy.dtype(numpy.int64)
    try:
        return ElementType.parse(element_type).dtype
    except VMError:
        return None


@dataclass(frozen=True, repr=False)
class TensorType:
    """``tensor<...>``: passed and returned as numpy arrays.

    ``shape`` has ``None`` for each dynamic (``?``) dimension, and is None
    itself for an unranked tensor; ``dtype`` is None for an element type
    numpy has no equivalent for (``i3``, ``f8E4M3``...). bf16, the f8 types
    IREE numbers and the sub-byte integers map to ``ml_dtypes`` dtypes."""

    element_type: str
    shape: tuple[int | None, ...] | None
    dtype: numpy.dtype | None
    encoding: str | None = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        return self.shape is None or None in self.shape

    def describe(self) -> str:
        what = f"a {self.dtype} array" if self.dtype is not None \
            else f"an array of {self.element_type}"
        if self.shape is None:
            return what + " of any shape"
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return what + f" of shape ({dims}{',' if len(self.shape) == 1 else ''})"

    def __str__(self) -> str:
        if self.shape is None:
            dims = "*x"
        else:
            dims = "".join(("?" if d is None else str(d)) + "x" for d in self.shape)
        encoding = f", {self.encoding}" if self.encoding else ""
        return f"tensor<{dims}{self.element_type}{encoding}>"

    __repr__ = __str__


_FLOATS = {"f16", "bf16", "f32", "f64", "f8E4M3FN", "f8E5M2", "tf32"}


@dataclass(frozen=True, repr=False)
class ScalarType:
    """A scalar (``i32``, ``i64``, ``index``, ``f32``...): a Python int or float."""

    name: str

    @property
    def python_type(self) -> type:
        if self.name.startswith("complex"):
            return complex
        return float if self.is_float else int

    @property
    def is_float(self) -> bool:
        return self.name in _FLOATS or self.name.startswith("f")  # f16, f8E4M3FN...

    @property
    def dtype(self) -> numpy.dtype | None:
        return _dtype_of(self.name)

    def describe(self) -> str:
        kind = {int: "an int", float: "a float", complex: "a complex"}[self.python_type]
        return f"{kind} ({self.name})"

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


@dataclass(frozen=True, repr=False)
class RefType:
    """A reference: ``!util.list<?>``, ``!hal.buffer_view``, ``!hal.fence``,
    or ``ref`` when only the calling convention is known."""

    name: str

    def describe(self) -> str:
        return f"a {self.name} reference"

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


@dataclass(frozen=True, repr=False)
class SpanType:
    """A variadic span of the calling convention: a sequence of values (of
    tuples when the span repeats several kinds)."""

    kinds: tuple[str, ...]

    def describe(self) -> str:
        return "a sequence of " + (self.kinds[0] if len(self.kinds) == 1
                                   else "(" + ", ".join(self.kinds) + ") tuples")

    def __str__(self) -> str:
        inner = self.kinds[0] if len(self.kinds) == 1 else f"tuple[{', '.join(self.kinds)}]"
        return f"list[{inner}]"

    __repr__ = __str__


ValueType = Union[TensorType, ScalarType, RefType, SpanType]


@dataclass(frozen=True)
class Parameter:
    """One argument or result: its name (as declared; ``input0``... by
    default), type, and any argument attributes the declaration shows."""

    name: str
    type: ValueType
    attributes: str | None = None

    def __str__(self) -> str:
        text = f"{self.name}: {self.type}"
        return text + f" {{{self.attributes}}}" if self.attributes else text


class _Results:
    """The return annotation: calls return a tuple of the results."""

    def __init__(self, results: tuple[Parameter, ...]) -> None:
        self.results = results

    def __repr__(self) -> str:
        return f"tuple[{', '.join(str(r.type) for r in self.results) or '()'}]"


@dataclass(frozen=True)
class FunctionSignature:
    """A function's arguments and results.

    ``source`` says where they come from: ``"declaration"``
    (``iree.abi.declaration``), ``"iree.abi"`` (legacy JSON) or
    ``"calling convention"``. ``model`` is ``"sync"``, ``"async"`` (IREE's
    coarse-fences model: the last two arguments are the wait and signal
    fences) or None when unknown. ``declaration`` is the attribute's text
    as written, whether or not it could be parsed."""

    name: str
    arguments: tuple[Parameter, ...]
    results: tuple[Parameter, ...]
    calling_convention: str
    source: str
    model: str | None = None
    declaration: str | None = None

    def __str__(self) -> str:
        arguments = ", ".join(str(p) for p in self.arguments)
        results = ", ".join(str(p) for p in self.results)
        return f"{self.name}({arguments}) -> ({results})"

    def to_inspect(self, *, timeout: bool = True) -> inspect.Signature:
        """An :class:`inspect.Signature`: the arguments positional-only, with
        their types as annotations, then keyword-only ``timeout``."""
        parameters = []
        used: set[str] = {"timeout"} if timeout else set()
        for index, parameter in enumerate(self.arguments):
            name = _identifier(parameter.name, f"arg{index}", used)
            parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY,
                                                annotation=parameter.type))
        if timeout:
            parameters.append(inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY,
                                                default=None, annotation=float | None))
        return inspect.Signature(parameters, return_annotation=_Results(self.results))


def _identifier(name: str, fallback: str, used: set[str]) -> str:
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = fallback if not text else "_" + text
    if keyword.iskeyword(text):
        text += "_"
    candidate, suffix = text, 1
    while candidate in used:
        candidate, suffix = f"{text}_{suffix}", suffix + 1
    used.add(candidate)
    return candidate


# -- the declaration -------------------------------------------------------------------

class _Unparsable(Exception):
    pass


_CLOSERS = {"<": ">", "(": ")", "[": "]", "{": "}"}


def _scan(text: str, position: int, stops: str) -> int:
    """The index of the first character of ``stops`` at bracket depth 0 from
    ``position`` (``->`` and quoted strings skipped), or len(text)."""
    depth: list[str] = []
    while position < len(text):
        char = text[position]
        if char == '"':
            position += 1
            while position < len(text) and text[position] != '"':
                position += 2 if text[position] == "\\" else 1
        elif char == "-" and text.startswith("->", position):
            position += 1
        elif not depth and char in stops:
            return position
        elif char in _CLOSERS:
            depth.append(_CLOSERS[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char in ">)]}":
            raise _Unparsable(f"unbalanced {char!r} at {position}")
        position += 1
    if depth:
        raise _Unparsable("unbalanced brackets")
    return position


_SCALAR = re.compile(r"(?:[su]?i\d+|index|f\d+|bf16|tf32|f8E\w+|complex<.+>)$")
_DIMS = re.compile(r"((?:(?:\d+|\?)x)*)(.+)$", re.S)


def parse_type(text: str) -> ValueType:
    """An MLIR type as the declaration writes it (never raises: anything
    unrecognized is a :class:`RefType` of that text)."""
    text = text.strip()
    if text.startswith("tensor<") and text.endswith(">"):
        inner = text[len("tensor<"):-1]
        try:
            comma = _scan(inner, 0, ",")
        except _Unparsable:
            return RefType(text)
        body, encoding = inner[:comma].strip(), inner[comma + 1:].strip() or None
        if body.startswith("*x"):
            element = body[2:]
            return TensorType(element, None, _dtype_of(element), encoding)
        match = _DIMS.match(body)
        dims_text, element = match.group(1), match.group(2)
        shape = tuple(None if d == "?" else int(d) for d in dims_text.split("x")[:-1])
        return TensorType(element, shape, _dtype_of(element), encoding)
    if _SCALAR.match(text):
        return ScalarType(text)
    return RefType(text)


def _parse_parameters(text: str) -> list[Parameter]:
    parameters = []
    position = 0
    text = text.strip()
    while position < len(text):
        if text[position] != "%":
            raise _Unparsable(f"expected '%' at {position}")
        colon = text.find(":", position)
        if colon < 0:
            raise _Unparsable("a parameter has no type")
        name = text[position + 1:colon].strip()
        end = _scan(text, colon + 1, ",{")
        type_text = text[colon + 1:end].strip()
        attributes = None
        if end < len(text) and text[end] == "{":
            close = _scan(text, end + 1, "}")
            if close >= len(text):
                raise _Unparsable("unterminated attributes")
            attributes = text[end + 1:close].strip()
            end = _scan(text, close + 1, ",")
            if text[close + 1:end].strip():
                raise _Unparsable("text after a parameter's attributes")
        if not type_text:
            raise _Unparsable(f"parameter %{name} has no type")
        parameters.append(Parameter(name, parse_type(type_text), attributes))
        position = end + 1
        while position < len(text) and text[position] == " ":
            position += 1
    return parameters


_HEADER = re.compile(r'\s*(?:(sync|async)\s+)?func\s+@("(?:[^"\\]|\\.)*"|[^\s(]+)\s*\(')


def parse_declaration(text: str) -> tuple[str | None, str, list[Parameter], list[Parameter]]:
    """(model, name, arguments, results) of an ``iree.abi.declaration``.
    Raises ValueError if the text is not in the compiler's format."""
    try:
        header = _HEADER.match(text)
        if header is None:
            raise _Unparsable("no 'func @name(' header")
        model, name = header.group(1), header.group(2).strip('"')
        open_ = header.end() - 1
        close = _scan(text, open_ + 1, ")")
        if close >= len(text):
            raise _Unparsable("unterminated argument list")
        arguments = _parse_parameters(text[open_ + 1:close])
        rest = text[close + 1:].strip()
        if not rest:
            return model, name, arguments, []
        if not rest.startswith("->"):
            raise _Unparsable("expected '->' after the arguments")
        rest = rest[2:].strip()
        if rest.startswith("("):
            end = _scan(rest, 1, ")")
            if end >= len(rest) or rest[end + 1:].strip():
                raise _Unparsable("unterminated result list")
            results = _parse_parameters(rest[1:end])
        else:  # a single unnamed result type
            results = [Parameter("output0", parse_type(rest))]
        return model, name, arguments, results
    except _Unparsable as error:
        raise ValueError(f"cannot parse declaration {text!r}: {error}") from None


# -- the legacy JSON iree.abi ------------------------------------------------------------

def _json_type(entry) -> ValueType:
    if isinstance(entry, str):
        return ScalarType(entry) if _SCALAR.match(entry) else RefType(entry)
    if isinstance(entry, list) and len(entry) >= 3 and entry[0] == "ndarray":
        element, rank = str(entry[1]), entry[2]
        dims = entry[3:]
        if rank is None:
            return TensorType(element, None, _dtype_of(element))
        if len(dims) != rank or not all(d is None or isinstance(d, int) for d in dims):
            raise _Unparsable("bad ndarray entry")
        return TensorType(element, tuple(None if d is None or d < 0 else d for d in dims),
                          _dtype_of(element))
    return RefType(json.dumps(entry))


def _parse_abi_json(text: str) -> tuple[list[Parameter], list[Parameter]]:
    try:
        abi = json.loads(text)
        arguments = [Parameter(f"input{i}", _json_type(e)) for i, e in enumerate(abi["a"])]
        results = [Parameter(f"output{i}", _json_type(e)) for i, e in enumerate(abi.get("r", []))]
        return arguments, results
    except (ValueError, KeyError, TypeError, _Unparsable) as error:
        raise ValueError(f"cannot parse iree.abi {text!r}: {error}") from None


# -- putting it together ---------------------------------------------------------------

_KIND_NAMES = {ValueKind.I32: "i32", ValueKind.I64: "i64", ValueKind.F32: "f32",
               ValueKind.F64: "f64", ValueKind.REF: "ref"}


def _from_kind(slot) -> ValueType:
    if isinstance(slot, Span):
        return SpanType(tuple(_KIND_NAMES[kind] for kind in slot.kinds))
    if slot is ValueKind.REF:
        return RefType("ref")
    return ScalarType(_KIND_NAMES[slot])


def _fits(type_: ValueType, slot) -> bool:
    """Whether a declared type can travel in a calling-convention slot."""
    if isinstance(slot, Span):
        return False
    if isinstance(type_, (TensorType, RefType)):
        return slot is ValueKind.REF
    if isinstance(type_, ScalarType):
        if type_.is_float:
            return slot in (ValueKind.F32, ValueKind.F64)
        return slot in (ValueKind.I32, ValueKind.I64)
    return False


def _reconcile(model: str | None, arguments: list[Parameter], results: list[Parameter],
               convention: CallingConvention) -> tuple[list[Parameter], list[Parameter]]:
    """Checks declared parameters against the calling convention; adds the
    fences of the coarse-fences model. Raises ValueError on disagreement."""
    arguments = list(arguments)
    if model == "async" and len(convention.arguments) == len(arguments) + 2:
        arguments += [Parameter("wait_fence", RefType("!hal.fence")),
                      Parameter("signal_fence", RefType("!hal.fence"))]
    for declared, slots, what in ((arguments, convention.arguments, "arguments"),
                                  (results, convention.results, "results")):
        if len(declared) != len(slots):
            raise ValueError(f"declares {len(declared)} {what}, the calling convention "
                             f"{convention} has {len(slots)}")
        for parameter, slot in zip(declared, slots):
            if not _fits(parameter.type, slot):
                raise ValueError(f"{parameter} does not fit calling convention {convention}")
    return arguments, results


def _reflection_entry(attributes: Mapping[str, str], key: str) -> str | None:
    """``key`` from the attributes, or from inside an ``iree.reflection``
    dictionary printed as MLIR (``{iree.abi.declaration = "..."}``)."""
    value = attributes.get(key)
    if value is not None:
        return value
    nested = attributes.get(REFLECTION)
    if not nested:
        return None
    match = re.search(re.escape(key) + r'\s*=\s*"((?:[^"\\]|\\.)*)"', nested)
    if match is None:
        return None
    return re.sub(r'\\([0-9A-Fa-f]{2}|.)', _unescape, match.group(1))


def _unescape(match: re.Match) -> str:
    """MLIR string escapes: ``\\XX`` (hex), ``\\\\``, ``\\"``."""
    text = match.group(1)
    return chr(int(text, 16)) if len(text) == 2 else text


def function_signature(name: str, calling_convention: str,
                       attributes: Mapping[str, str] | None = None) -> FunctionSignature:
    """The signature of a function from its calling convention and reflection
    attributes (see the module docstring). Never raises for bad attributes;
    raises VMError only for a malformed calling convention."""
    convention = parse_calling_convention(calling_convention)
    attributes = attributes or {}
    declaration = _reflection_entry(attributes, DECLARATION)
    if declaration is not None:
        try:
            model, _, arguments, results = parse_declaration(declaration)
            arguments, results = _reconcile(model, arguments, results, convention)
            return FunctionSignature(name, tuple(arguments), tuple(results), calling_convention,
                                     "declaration", model, declaration)
        except ValueError:
            pass
    abi = _reflection_entry(attributes, ABI_JSON)
    if abi is not None:
        try:
            arguments, results = _parse_abi_json(abi)
            arguments, results = _reconcile(None, arguments, results, convention)
            return FunctionSignature(name, tuple(arguments), tuple(results), calling_convention,
                                     "iree.abi", None, declaration)
        except ValueError:
            pass
    arguments = tuple(Parameter(f"arg{i}", _from_kind(s)) for i, s in enumerate(convention.arguments))
    results = tuple(Parameter(f"result{i}", _from_kind(s)) for i, s in enumerate(convention.results))
    return FunctionSignature(name, arguments, results, calling_convention, "calling convention",
                             None, declaration)
