"""Stateful calls, as TVM's Relax VM makes them: inputs set ahead, outputs kept.

``program.set_input("predict", x, w)`` stores a function's inputs,
``await program.invoke_stateful("predict")`` calls it with them and stores
its results, and ``program.get_outputs("predict")`` returns those. A
:class:`StatefulCalls` is that state for one program: per function (keyed
by its full name, so ``"add"`` and ``"module.add"`` share it), the inputs
set so far and the results of the last stateful call to finish.

Setting inputs:

* The positional form ``set_input(name, *arguments, **named)`` (any call
  with positional arguments, or with none at all) gives the complete
  argument list and replaces whatever was stored: ``arguments`` fill the
  leading parameters, ``named`` the others by name. A wrong count (too many,
  or parameters left without a value) is INVALID_ARGUMENT, as for
  ``program.invoke``.
* The keyword form ``set_input(name, **named)`` (keywords only) sets those
  parameters and keeps the values stored earlier for the others, so inputs
  can be set one by one; :meth:`StatefulCalls.invoke` then requires them all
  (FAILED_PRECONDITION naming those missing).

Names are the parameter names of the function's signature (``input0``,
``input1``... as IREE's compiler names them by default, ``arg0``... when
only the calling convention is known), or their Python-identifier spelling
that ``inspect.signature`` shows. Values are not checked here: the call
checks them (INVALID_ARGUMENT naming the input).

Ownership: the program keeps references to the values given, not copies,
until they are replaced; an array changed in place after ``set_input`` is
seen changed by later stateful calls (as with ``program.invoke``, the
program itself never changes a numpy input). The stored results are the
tuple the call returned (numpy arrays viewing the result buffers), held
until the next stateful call of that function replaces them;
``get_outputs`` returns that same tuple each time.

Concurrency: stateful calls of the same function may be in flight at once.
Each uses the inputs stored when :meth:`StatefulCalls.invoke` was called
(a later ``set_input`` does not affect calls already made), and each
stores its results when it finishes: the last one to finish wins. A call
that fails stores nothing, leaving the earlier outputs in place. Every call
also returns its own results, so concurrent callers need not race for
``get_outputs``. The state is used from the program's event-loop thread,
like the program; it is not locked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Mapping, Sequence

from ._function import ProgramFunction
from .vm import Function, StatusCode, VMError

if TYPE_CHECKING:
    from ._program import Program

_UNSET: Any = object()
"""The value of a parameter that has no input yet."""


def resolve_function(program: "Program", name: Any) -> ProgramFunction:
    """The function ``name`` denotes: a name as ``program[name]`` takes it, a
    :class:`ProgramFunction` or a :class:`~asyncvm.vm.Function`. Raises
    VMError NOT_FOUND for an unknown name, INVALID_ARGUMENT for anything that
    is not a name or a function."""
    if isinstance(name, ProgramFunction):
        return name
    if isinstance(name, Function):
        return program[name.full_name]
    if isinstance(name, str):
        return program[name]
    raise VMError(StatusCode.INVALID_ARGUMENT,
                  f"a function is named by a str, got {type(name).__name__}")


class _FunctionState:
    """One function's stored inputs (``_UNSET`` where none) and outputs."""

    __slots__ = ("function", "names", "inputs", "outputs")

    def __init__(self, function: ProgramFunction) -> None:
        self.function = function
        self.names = [parameter.name for parameter in function.signature.arguments]
        self.inputs: list[Any] = [_UNSET] * len(self.names)
        self.outputs: tuple | None = None

    def missing(self) -> list[str]:
        return [name for name, value in zip(self.names, self.inputs) if value is _UNSET]


def _parameter_positions(function: ProgramFunction) -> dict[str, int]:
    """Parameter name (declared, and as a Python identifier) -> position."""
    identifiers = list(function.signature.to_inspect(timeout=False).parameters)
    positions = {identifier: index for index, identifier in enumerate(identifiers)}
    for index, parameter in enumerate(function.signature.arguments):
        positions.setdefault(parameter.name, index)
    return positions


class StatefulCalls:
    """The inputs and outputs a program keeps for stateful calls (see the
    module docstring for the rules, ownership and concurrency)."""

    def __init__(self, program: "Program") -> None:
        self.program = program
        self._states: dict[str, _FunctionState] = {}

    def _state(self, name: Any, create: bool) -> _FunctionState | None:
        function = resolve_function(self.program, name)
        state = self._states.get(function.full_name)
        if state is None and create:
            state = self._states[function.full_name] = _FunctionState(function)
        return state

    def set_input(self, name: Any, arguments: Sequence[Any], named: Mapping[str, Any]) -> None:
        """Stores inputs of function ``name`` (positional or keyword form; see
        the module docstring). Does not suspend. Raises VMError: NOT_FOUND
        for an unknown function; INVALID_ARGUMENT for an unknown parameter
        name, a parameter given twice, or (positional form) a wrong count.
        Nothing is stored when it raises."""
        function = resolve_function(self.program, name)
        count = len(function.signature.arguments)
        label = function.full_name
        if len(arguments) > count:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"{label} takes {count} input(s), got {len(arguments)} positional")
        positions = _parameter_positions(function) if named else {}
        state = self._states.get(function.full_name)
        keyword_form = bool(named) and not arguments
        values = list(state.inputs) if keyword_form and state is not None else [_UNSET] * count
        values[:len(arguments)] = arguments
        for key, value in named.items():
            position = positions.get(key)
            if position is None:
                known = ", ".join(parameter.name for parameter in function.signature.arguments)
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{label} has no parameter named {key!r} "
                              f"(its parameters: {known or 'none'})")
            if position < len(arguments):
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{label}: parameter {key!r} was given positionally and by name")
            values[position] = value
        if not keyword_form:
            names = [parameter.name for parameter in function.signature.arguments]
            missing = [names[index] for index, value in enumerate(values) if value is _UNSET]
            if missing:
                raise VMError(StatusCode.INVALID_ARGUMENT,
                              f"{label} takes {count} input(s), got {count - len(missing)}: "
                              f"no value for {', '.join(missing)} (set inputs one by one "
                              "with keywords only)")
        if state is None:
            state = self._states[function.full_name] = _FunctionState(function)
        state.inputs = values

    def inputs(self, name: Any) -> tuple:
        """The complete stored inputs of ``name``, in parameter order (the
        stored objects, not copies). Raises VMError NOT_FOUND for an unknown
        function, FAILED_PRECONDITION when some input was never set (naming
        those missing). A function without parameters needs none."""
        function = resolve_function(self.program, name)
        state = self._states.get(function.full_name)
        if state is None:
            if not function.signature.arguments:
                return ()
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"no inputs set for {function.full_name}: call set_input first "
                          f"(it takes {', '.join(p.name for p in function.signature.arguments)})")
        missing = state.missing()
        if missing:
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"incomplete inputs for {function.full_name}: no value for "
                          f"{', '.join(missing)}")
        return tuple(state.inputs)

    def invoke(self, name: Any, timeout: float | None = None) -> Awaitable[tuple]:
        """Calls ``name`` with its stored inputs: the awaitable of its results,
        which are stored when the call finishes (see the module docstring).
        The inputs are taken now; the call suspends when awaited. Raises
        VMError: NOT_FOUND, FAILED_PRECONDITION (inputs missing) here; what
        ``program.invoke`` raises (DEADLINE_EXCEEDED past ``timeout``) when
        awaited."""
        function = resolve_function(self.program, name)
        arguments = self.inputs(function)
        state = self._state(function, create=True)
        return self._store(state, self.program.invoke(function.function, *arguments,
                                                      timeout=timeout))

    @staticmethod
    async def _store(state: _FunctionState, call: Awaitable[tuple]) -> tuple:
        results = await call
        state.outputs = results
        return results

    def outputs(self, name: Any) -> tuple:
        """The results the last finished stateful call of ``name`` stored.
        Raises VMError NOT_FOUND for an unknown function, FAILED_PRECONDITION
        when no stateful call of it has finished yet."""
        state = self._state(name, create=False)
        if state is None or state.outputs is None:
            label = resolve_function(self.program, name).full_name
            raise VMError(StatusCode.FAILED_PRECONDITION,
                          f"no outputs for {label}: no invoke_stateful call of it has "
                          "finished yet")
        return state.outputs
