"""Observed execution of bytecode: switching a state between its module's translations.

A bytecode module runs its normal translation (see :mod:`._translator`).
While something observes a context (:func:`asyncvm.vm.observe_execution`),
each bytecode state in it runs one of two other translations instead:

* the *counted* one while only :class:`~asyncvm.vm.ExecutionCounts` observe
  it: each instruction adds one to its site's entry of the state's list of
  counts (about 1.5 times the normal time); the counters read the
  difference between the list as it is and as it was when they began;
* the *observed* one while any other observer (a trace) observes it: a
  hook runs before each instruction, counts it in the same list and hands
  its site and operand values to each observer (many times slower).

The switch changes the code of the state's function objects in place
(``function.__code__``) instead of binding new functions, so every callable
already handed out — the context's :class:`~asyncvm.vm.Function` objects,
other modules' imports, calls between the module's own functions — follows
it, and the normal code stays exactly as it is, with nothing added: a state
nobody observes pays nothing for observation. Code can be exchanged
because all three translations of a function close over the same names of
``_bind``, in the same order (checked when one is compiled: INTERNAL
otherwise), and are all generators or all plain functions. The hook or the
list reaches the code as the default of its keyword-only ``_o`` parameter,
set on each function object (between two other translations, the switch
passes through the normal code, which ignores it). Frames already running
keep the code and ``_o`` they started with: the hook reads the state's
observers at each call, so a frame that runs on after its observers left
reports to no one, and counters only take the counts of their own time.

The other translations are compiled on first use, once per module, and name
their frames in backtraces like the normal one.
"""

from __future__ import annotations

import inspect
import threading
import types
import weakref
from typing import TYPE_CHECKING, Any

from asyncvm.vm import (ExecutionCounts, InstructionSite, StatusCode, VMError,
                        register_frame_describer)

from ._instruction_set import IMPORT_BIT
from ._translator import TranslatedModule, instruction_sites, observed_operands, translate_module

if TYPE_CHECKING:
    from ._module import BytecodeModule, BytecodeModuleState

_KIND_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_lock = threading.RLock()


def _function_codes(bind_code: types.CodeType, count: int) -> list[types.CodeType]:
    """The code objects of ``f0``..``f{count-1}`` defined in ``_bind``."""
    codes = {constant.co_name: constant for constant in bind_code.co_consts
             if isinstance(constant, types.CodeType)}
    return [codes[f"f{ordinal}"] for ordinal in range(count)]


class ObservedTranslations:
    """A module's observed and counted translations, and its instruction sites.

    ``sites[n]`` describes site ``n`` (see
    :func:`._translator.instruction_sites`); ``normal_codes[k]`` is
    function ``k``'s normal code; :meth:`codes` compiles the other
    translations on first use. Thread-safe.
    """

    def __init__(self, module: "BytecodeModule") -> None:
        self._module = weakref.ref(module)
        self.normal_codes = _function_codes(module._bind.__code__, len(module.instructions))
        self.sites = _sites(module)
        self._translated: dict[str, TranslatedModule] = {}
        self._codes: dict[str, list[types.CodeType]] = {}
        self._describers: list = []  # held here: the registry holds describers weakly

    def translated(self, mode: str) -> TranslatedModule:
        """The source of the ``"observed"`` or ``"counted"`` translation."""
        self.codes(mode)
        return self._translated[mode]

    def codes(self, mode: str) -> list[types.CodeType]:
        """Each function's code in the ``"observed"`` or ``"counted"``
        translation. VMError INTERNAL if it cannot stand in for the normal code."""
        codes = self._codes.get(mode)
        if codes is None:
            with _lock:
                codes = self._codes.get(mode)
                if codes is None:
                    codes = self._codes[mode] = self._compile(mode)
        return codes

    def _compile(self, mode: str) -> list[types.CodeType]:
        module = self._module()
        if module is None:
            raise VMError(StatusCode.INTERNAL, "the module of these translations is gone")
        try:
            translated = translate_module(module.definition, module.instructions,
                                          module.function_names, mode=mode)
            module_code = compile(translated.source, f"<asyncvm {module.name} {mode}>", "exec")
        except VMError:
            raise
        except (SyntaxError, RecursionError, MemoryError, ValueError) as error:
            raise VMError(StatusCode.INTERNAL, f"module {module.name!r} cannot be observed: "
                                               f"{type(error).__name__}: {error}") from error
        bind_code = next(constant for constant in module_code.co_consts
                         if isinstance(constant, types.CodeType) and constant.co_name == "_bind")
        codes = _function_codes(bind_code, len(self.normal_codes))
        for ordinal, (code, normal) in enumerate(zip(codes, self.normal_codes)):
            if code.co_freevars != normal.co_freevars \
                    or (code.co_flags ^ normal.co_flags) & _KIND_FLAGS:
                raise VMError(StatusCode.INTERNAL,
                              f"the {mode} translation of {module.name}."
                              f"{module.function_names[ordinal]} cannot stand in for the "
                              "normal one (its closure or kind differs)")
        describe = module.frame_describer(translated.line_map)
        self._describers.append(describe)
        for code in codes:
            register_frame_describer(code, describe)
        self._translated[mode] = translated
        return codes


def observed_translations(module: "BytecodeModule") -> ObservedTranslations:
    """The module's :class:`ObservedTranslations`, made on first use (thread-safe)."""
    translations = module.__dict__.get("_observed_translations")
    if translations is None:
        with _lock:
            translations = module.__dict__.get("_observed_translations")
            if translations is None:
                translations = module.__dict__["_observed_translations"] = \
                    ObservedTranslations(module)
    return translations


def _sites(module: "BytecodeModule") -> list[InstructionSite]:
    from ._disassembler import instruction_texts  # the disassembler imports the module

    definition = module.definition
    names = module.function_names
    texts = [instruction_texts(module, ordinal) for ordinal in range(len(module.instructions))]
    # Each function's first instruction: it runs once per call, since no
    # branch may return to an entry block.
    first: dict[int, int] = {}
    for ordinal, decoded in instruction_sites(module.instructions):
        first.setdefault(ordinal, decoded.pc)
    entries = set(first.values())
    sites = []
    for ordinal, decoded in instruction_sites(module.instructions):
        pc = decoded.pc - definition.functions[ordinal].bytecode_offset
        callee = None
        imported = False
        if decoded.instruction.semantics == "@call":
            function = decoded.field("callee")
            imported = bool(function & IMPORT_BIT)
            callee = (definition.imports[function & ~IMPORT_BIT].full_name if imported
                      else f"{module.name}.{names[function]}")
        sites.append(InstructionSite(
            module.name, names[ordinal], pc, texts[ordinal][pc],
            tuple("%" + register.name for register in observed_operands(decoded)),
            entry=decoded.pc in entries,
            returns=decoded.instruction.semantics == "@return",
            callee=callee, imported=imported))
    return sites


class ExecutionSwitch:
    """The observers of one bytecode state, and which translation its functions run.

    ``counts[n]`` counts the runs of site ``n`` while anything observes the
    state (it only grows). Thread-safe; never suspends.
    """

    def __init__(self, state: "BytecodeModuleState", translations: ObservedTranslations) -> None:
        self.functions = state.functions
        self.translations = translations
        self.observers: tuple = ()
        self.counters: dict[int, tuple[ExecutionCounts, Any]] = {}
        self.counts = counts = [0] * len(translations.sites)
        self._mode = "normal"
        self._lock = threading.Lock()
        sites = translations.sites

        def hook(site: int, values: tuple, switch: ExecutionSwitch = self) -> None:
            counts[site] += 1
            for observer in switch.observers:
                observer.observe_instruction(sites[site], values)

        self._defaults = {"observed": {"_o": hook}, "counted": {"_o": counts}}

    def add(self, observer: Any) -> None:
        """ALREADY_EXISTS if ``observer`` already observes this state;
        INTERNAL if the translation it needs cannot be built."""
        with self._lock:
            if id(observer) in self.counters or any(present is observer
                                                    for present in self.observers):
                raise VMError(StatusCode.ALREADY_EXISTS,
                              "the observer already observes this context")
            if isinstance(observer, ExecutionCounts):
                self._switch(self.observers, True)
                handle = observer.attach_site_counts(self.translations.sites, self.counts)
                self.counters[id(observer)] = (observer, handle)
            else:
                self._switch(self.observers + (observer,), bool(self.counters))
                self.observers += (observer,)

    def remove(self, observer: Any) -> None:
        """Stops observing for ``observer`` (nothing if it was not observing)."""
        with self._lock:
            counter = self.counters.pop(id(observer), None)
            if counter is not None:
                counter[0].detach_site_counts(counter[1])
            elif any(present is observer for present in self.observers):
                self.observers = tuple(present for present in self.observers
                                       if present is not observer)
            else:
                return
            self._switch(self.observers, bool(self.counters))

    def _switch(self, observers: tuple, counting: bool) -> None:
        """Makes the functions run the translation that ``observers`` (and
        counters, if ``counting``) need."""
        mode = "observed" if observers else "counted" if counting else "normal"
        if mode == self._mode:
            return
        codes = self.translations.codes(mode) if mode != "normal" else None  # may raise
        normal_codes = self.translations.normal_codes
        for ordinal, function in enumerate(self.functions):
            if self._mode != "normal":
                function.__code__ = normal_codes[ordinal]
            if codes is None:
                function.__kwdefaults__ = None
            else:
                function.__kwdefaults__ = self._defaults[mode]
                function.__code__ = codes[ordinal]
        self._mode = mode


def execution_switch(state: "BytecodeModuleState") -> ExecutionSwitch:
    """The state's switch, made on first use (thread-safe)."""
    switch = state._execution_switch
    if switch is None:
        translations = observed_translations(state.module)
        with _lock:
            switch = state._execution_switch
            if switch is None:
                switch = state._execution_switch = ExecutionSwitch(state, translations)
    return switch
