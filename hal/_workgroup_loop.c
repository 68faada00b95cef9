/* hal._workgroup_loop: llvm-cpu dispatches' workgroup loops in C.
 *
 * hal/_native_library.py can call a kernel once per workgroup through ctypes,
 * but every such call releases and re-takes the GIL; with several threads
 * dispatching at once that hand-over costs more than small kernels do.
 * run_workgroups runs the whole slice [first, end) of one dispatch's linear
 * workgroup indices with the GIL released once around the loop.
 * run_dispatches does the same for a run of dispatches that a replay plan
 * prepared (hal/_native_replay.py): it writes each one's binding addresses
 * from the binding table, then runs them in order, so that replaying a
 * recorded command buffer costs one call rather than Python work per
 * dispatch.
 *
 * The kernel follows IREE's executable library ABI (executable_library.h):
 *
 *     int kernel(const environment *, const dispatch_state *, workgroup_state *)
 *
 * This file only needs the layout of the workgroup state, whose id fields it
 * writes before each call (hal/_workgroup_abi.h). The environment and
 * dispatch state are passed through untouched, but for the binding arrays a
 * plan's records point at.
 *
 * The caller passes raw addresses and must keep the memory behind them
 * alive and unshared for the duration of the call: this is a private helper
 * of hal/_native_library.py and hal/_native_replay.py, not a public API.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <time.h>

#include "_workgroup_abi.h"

/* "O&" converter: a Python int in [0, 2**32). */
static int
convert_uint32(PyObject *object, void *out)
{
    unsigned long long value;
    if (!PyLong_Check(object)) {
        PyErr_Format(PyExc_TypeError, "a count or index must be an int, not %.100s",
                     Py_TYPE(object)->tp_name);
        return 0;
    }
    value = PyLong_AsUnsignedLongLong(object);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        return 0;
    }
    if (value > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value does not fit in 32 bits");
        return 0;
    }
    *(uint32_t *)out = (uint32_t)value;
    return 1;
}

/* Nanoseconds on a monotonic clock (only differences are used). */
static uint64_t
monotonic_ns(void)
{
    struct timespec now;
#if defined(CLOCK_MONOTONIC)
    clock_gettime(CLOCK_MONOTONIC, &now);
#else
    timespec_get(&now, TIME_UTC);
#endif
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

PyDoc_STRVAR(run_workgroups_doc,
"run_workgroups(entry, environment, dispatch_state, workgroup_state, count_x, plane,\n"
"               first, end, budget_ns=0, stop_flag=0) -> (result, stopped)\n"
"\n"
"Calls the kernel at address ``entry`` for linear workgroup indices\n"
"``first`` to ``end - 1`` in order, with the GIL released. Index i is\n"
"workgroup (x, y, z) with z = i // plane and i % plane = y * count_x + x,\n"
"written into the workgroup state before each call. Stops at the first\n"
"kernel that returns non-zero: ``result`` is that value and ``stopped`` its\n"
"index; otherwise ``(0, end)``. The addresses must point at live structures\n"
"laid out as IREE's executable library ABI defines them.\n"
"\n"
"The loop also stops early -- giving ``(0, i)`` with i the next index to\n"
"run -- before any workgroup once the 32-bit int at address ``stop_flag``\n"
"(0: none) is non-zero, and after a workgroup once ``budget_ns``\n"
"nanoseconds have passed since it began (0: no limit; at least one\n"
"workgroup runs then).");

static PyObject *
run_workgroups(PyObject *module, PyObject *args)
{
    void *entry_address, *environment, *dispatch_state, *workgroup_address;
    uint32_t count_x, plane, first, end, index;
    unsigned long long budget_ns = 0, stop_address = 0;
    volatile const int32_t *stop_flag;
    uint64_t began = 0;
    asyncvm_kernel kernel;
    asyncvm_workgroup_state *workgroup;
    int result = 0;

    (void)module;
    if (!PyArg_ParseTuple(args, "O&O&O&O&O&O&O&O&|KK:run_workgroups",
                          convert_address, &entry_address,
                          convert_address, &environment,
                          convert_address, &dispatch_state,
                          convert_address, &workgroup_address,
                          convert_uint32, &count_x, convert_uint32, &plane,
                          convert_uint32, &first, convert_uint32, &end,
                          &budget_ns, &stop_address)) {
        return NULL;
    }
    if (!asyncvm_check_workgroup_range(first, end, count_x, plane)) {
        return NULL;
    }

    /* A data pointer to function pointer conversion: the address came from
       the library's export table. */
    kernel = (asyncvm_kernel)(uintptr_t)entry_address;
    workgroup = (asyncvm_workgroup_state *)workgroup_address;
    stop_flag = (volatile const int32_t *)(uintptr_t)stop_address;
    index = first;

    Py_BEGIN_ALLOW_THREADS
    if (budget_ns != 0) {
        began = monotonic_ns();
    }
    while (index < end) {
        if (stop_flag != NULL && *stop_flag != 0) {
            break;
        }
        asyncvm_set_workgroup_id(workgroup, index, count_x, plane);
        result = kernel(environment, dispatch_state, workgroup);
        if (result != 0) {
            break;
        }
        ++index;
        if (budget_ns != 0 && monotonic_ns() - began >= budget_ns) {
            break;
        }
    }
    Py_END_ALLOW_THREADS

    return Py_BuildValue("(ik)", result, (unsigned long)index);
}

/* One dispatch of a replay plan (see run_dispatches), as hal/_native_replay.py
 * writes it: ten 64-bit words, then three per binding. */
typedef struct {
    uint64_t entry;
    uint64_t environment;
    uint64_t dispatch_state;
    uint64_t workgroup_state;
    uint64_t binding_pointers; /* the dispatch state's binding_ptrs array */
    uint64_t binding_lengths;  /* and its binding_lengths array */
    uint64_t count_x;
    uint64_t plane;
    uint64_t total;
    uint64_t binding_count;
} asyncvm_planned_dispatch;

/* A planned binding: slot k of the binding table (offset and length relative
 * to the slot's range, length -1 meaning the rest of it), or with slot
 * DIRECT_BINDING a fixed address and length. */
typedef struct {
    uint64_t slot;
    int64_t offset_or_address;
    int64_t length;
} asyncvm_planned_binding;

#define DIRECT_BINDING UINT64_MAX
#define SLOT_FIELDS 4 /* base address, buffer length, table offset, table length */
#define STACK_SLOTS 16

enum {
    REPLAY_DONE = 0,
    REPLAY_STOPPED = 1,
    REPLAY_KERNEL_FAILED = 2,
    REPLAY_BAD_BINDING = 3,
};

static asyncvm_planned_dispatch *
planned_dispatch_at(uint64_t *words, uint64_t *cursor)
{
    asyncvm_planned_dispatch *dispatch = (asyncvm_planned_dispatch *)(words + *cursor);
    *cursor += sizeof(asyncvm_planned_dispatch) / sizeof(uint64_t) +
               dispatch->binding_count * (sizeof(asyncvm_planned_binding) / sizeof(uint64_t));
    return dispatch;
}

/* Writes every planned dispatch's binding addresses and lengths, resolving
 * slots against the table as IREE resolves a binding-table reference: the
 * slot's offset is added, a whole-range length takes the slot's, and the
 * range must lie in the slot's buffer. Returns the index of the first
 * dispatch with a binding that does not resolve, or -1 when all do. */
static long
write_bindings(uint64_t *words, uint32_t dispatch_count, const int64_t *slots,
               uint64_t slot_count)
{
    uint64_t cursor = 0;
    uint32_t index;
    for (index = 0; index < dispatch_count; ++index) {
        asyncvm_planned_dispatch *dispatch = planned_dispatch_at(words, &cursor);
        asyncvm_planned_binding *bindings = (asyncvm_planned_binding *)(dispatch + 1);
        void **pointers = (void **)(uintptr_t)dispatch->binding_pointers;
        size_t *lengths = (size_t *)(uintptr_t)dispatch->binding_lengths;
        uint64_t binding;
        for (binding = 0; binding < dispatch->binding_count; ++binding) {
            const asyncvm_planned_binding *planned = &bindings[binding];
            const int64_t *slot;
            int64_t offset, length;
            if (planned->slot == DIRECT_BINDING) {
                pointers[binding] = (void *)(uintptr_t)planned->offset_or_address;
                lengths[binding] = (size_t)planned->length;
                continue;
            }
            if (planned->slot >= slot_count) {
                return (long)index;
            }
            slot = slots + planned->slot * SLOT_FIELDS;
            if (slot[0] == 0 || slot[2] < 0 || planned->offset_or_address < 0 ||
                planned->offset_or_address > INT64_MAX - slot[2]) {
                return (long)index; /* no buffer, or an offset past any buffer */
            }
            offset = planned->offset_or_address + slot[2];
            length = planned->length == -1 ? slot[3] : planned->length;
            if (length == -1) {
                length = slot[1] - offset;
            }
            if (offset > slot[1] || length < 0 || length > slot[1] - offset) {
                return (long)index;
            }
            pointers[binding] = (void *)(uintptr_t)(slot[0] + offset);
            lengths[binding] = (size_t)length;
        }
    }
    return -1;
}

PyDoc_STRVAR(run_dispatches_doc,
"run_dispatches(plan, dispatch_count, slots, dispatch, workgroup, budget_ns=0,\n"
"               stop_flag=0, team=None, helper_ns=0)\n"
"    -> None | (status, dispatch, workgroup, result)\n"
"\n"
"Replays ``dispatch_count`` prepared dispatches described by the 64-bit\n"
"words at address ``plan`` (see hal/_native_replay.py), in order, from\n"
"linear workgroup ``workgroup`` of dispatch ``dispatch``, with the GIL\n"
"released. ``slots`` is the binding table as a flat tuple of four ints per\n"
"slot: the address of the slot buffer's first byte (0: no buffer), the\n"
"buffer's length, the slot's offset and its length (-1: to the end).\n"
"\n"
"A call from the start first resolves every binding of every dispatch\n"
"into the dispatch states; if one does not resolve nothing runs and the\n"
"result is (3, index of that dispatch, 0, 0). Otherwise the workgroups run\n"
"as run_workgroups runs them, and the result is None when all ran;\n"
"(1, d, w, 0) with (d, w) the next workgroup to run when the\n"
"stop flag was set or the budget passed (checked as run_workgroups does,\n"
"over the whole call); or (2, d, w, r) when workgroup w of dispatch d\n"
"returned r != 0.\n"
"\n"
"With a ``team`` (a hal._workgroup_team.WorkgroupTeam) and no budget, a\n"
"dispatch of more than one workgroup runs on the team's threads and this\n"
"one (see WorkgroupTeam.run): stopped by the flag, w is then any\n"
"workgroup not run. The team's processor time is added to the 64-bit\n"
"count at address ``helper_ns`` (0: not counted).");

/* The team's interface (hal/_workgroup_abi.h), imported by the first call
 * given a team. */
static const asyncvm_team_api *team_api;

/* An optional trailing argument of run_dispatches: a non-negative int, 0 when
 * absent. Returns 0 with an exception set when it is not one. */
static int
optional_unsigned(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t index,
                  unsigned long long *out)
{
    if (index >= nargs) {
        *out = 0;
        return 1;
    }
    if (!PyLong_Check(args[index])) {
        PyErr_Format(PyExc_TypeError, "run_dispatches argument %zd must be an int, not %.100s",
                     index + 1, Py_TYPE(args[index])->tp_name);
        return 0;
    }
    *out = PyLong_AsUnsignedLongLong(args[index]);
    return !(*out == (unsigned long long)-1 && PyErr_Occurred());
}

static PyObject *
run_dispatches(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    void *plan_address;
    uint32_t dispatch_count, start_dispatch, start_workgroup;
    PyObject *slot_tuple;
    unsigned long long budget_ns = 0, stop_address = 0, helper_ns_address = 0;
    PyObject *team = NULL;
    uint64_t helper_ns = 0;
    int64_t stack_slots[STACK_SLOTS * SLOT_FIELDS];
    int64_t *slots = stack_slots;
    Py_ssize_t slot_values, value;
    uint64_t *words;
    uint64_t cursor = 0;
    volatile const int32_t *stop_flag;
    uint64_t began = 0;
    uint32_t dispatch_index, workgroup_index = 0;
    int status = REPLAY_DONE, result = 0;
    long bad;

    (void)module;
    /* Called once per replayed segment: the arguments are read by hand
     * rather than through a format string. */
    if (nargs < 5 || nargs > 9) {
        PyErr_Format(PyExc_TypeError, "run_dispatches takes 5 to 9 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (!convert_address(args[0], &plan_address) ||
        !convert_uint32(args[1], &dispatch_count) ||
        !convert_uint32(args[3], &start_dispatch) ||
        !convert_uint32(args[4], &start_workgroup) ||
        !optional_unsigned(args, nargs, 5, &budget_ns) ||
        !optional_unsigned(args, nargs, 6, &stop_address) ||
        !optional_unsigned(args, nargs, 8, &helper_ns_address)) {
        return NULL;
    }
    if (nargs > 7 && args[7] != Py_None) {
        if (team_api == NULL) {
            team_api = (const asyncvm_team_api *)PyCapsule_Import(ASYNCVM_TEAM_CAPSULE, 0);
            if (team_api == NULL) {
                return NULL;
            }
        }
        if (!PyObject_TypeCheck(args[7], team_api->team_type)) {
            PyErr_Format(PyExc_TypeError, "team must be a WorkgroupTeam or None, not %.100s",
                         Py_TYPE(args[7])->tp_name);
            return NULL;
        }
        team = args[7];
    }
    slot_tuple = args[2];
    if (!PyTuple_Check(slot_tuple)) {
        PyErr_Format(PyExc_TypeError, "slots must be a tuple, not %.100s",
                     Py_TYPE(slot_tuple)->tp_name);
        return NULL;
    }
    if (start_dispatch > dispatch_count) {
        PyErr_Format(PyExc_ValueError, "dispatch %u is past the plan's %u", start_dispatch,
                     dispatch_count);
        return NULL;
    }
    slot_values = PyTuple_GET_SIZE(slot_tuple);
    if (slot_values % SLOT_FIELDS != 0) {
        PyErr_SetString(PyExc_ValueError, "slots must hold four ints per slot");
        return NULL;
    }
    if (slot_values > STACK_SLOTS * SLOT_FIELDS) {
        slots = PyMem_Malloc(sizeof(int64_t) * (size_t)slot_values);
        if (slots == NULL) {
            return PyErr_NoMemory();
        }
    }
    for (value = 0; value < slot_values; ++value) {
        slots[value] = PyLong_AsLongLong(PyTuple_GET_ITEM(slot_tuple, value));
        if (slots[value] == -1 && PyErr_Occurred()) {
            if (slots != stack_slots) {
                PyMem_Free(slots);
            }
            return NULL;
        }
    }
    words = (uint64_t *)plan_address;
    stop_flag = (volatile const int32_t *)(uintptr_t)stop_address;

    if (start_dispatch == 0 && start_workgroup == 0) {
        bad = write_bindings(words, dispatch_count, slots, (uint64_t)(slot_values / SLOT_FIELDS));
        if (slots != stack_slots) {
            PyMem_Free(slots);
        }
        if (bad >= 0) {
            return Py_BuildValue("(iIIi)", REPLAY_BAD_BINDING, (unsigned int)bad, 0u, 0);
        }
    } else if (slots != stack_slots) {
        PyMem_Free(slots);
    }

    for (dispatch_index = 0; dispatch_index < start_dispatch; ++dispatch_index) {
        planned_dispatch_at(words, &cursor);
    }
    Py_BEGIN_ALLOW_THREADS
    if (budget_ns != 0) {
        began = monotonic_ns();
    }
    for (dispatch_index = start_dispatch; dispatch_index < dispatch_count; ++dispatch_index) {
        asyncvm_planned_dispatch *dispatch = planned_dispatch_at(words, &cursor);
        asyncvm_kernel kernel = (asyncvm_kernel)(uintptr_t)dispatch->entry;
        asyncvm_workgroup_state *workgroup =
            (asyncvm_workgroup_state *)(uintptr_t)dispatch->workgroup_state;
        const void *environment = (const void *)(uintptr_t)dispatch->environment;
        const void *state = (const void *)(uintptr_t)dispatch->dispatch_state;
        uint32_t count_x = (uint32_t)dispatch->count_x, plane = (uint32_t)dispatch->plane;
        uint32_t total = (uint32_t)dispatch->total;
        workgroup_index = dispatch_index == start_dispatch ? start_workgroup : 0;
        if (team != NULL && budget_ns == 0 && total - workgroup_index > 1) {
            asyncvm_job job;
            uint64_t reached;
            job.kernel = kernel;
            job.environment = environment;
            job.dispatch_state = state;
            job.workgroup = *workgroup;
            job.count_x = count_x;
            job.plane = plane;
            job.end = total;
            job.stop_flag = stop_flag;
            result = team_api->run(team, &job, workgroup, workgroup_index, &reached,
                                   &helper_ns);
            workgroup_index = (uint32_t)reached;
            if (result != 0) {
                status = REPLAY_KERNEL_FAILED;
                goto out;
            }
            if (workgroup_index < total) {
                status = REPLAY_STOPPED;
                goto out;
            }
            continue;
        }
        while (workgroup_index < total) {
            if (stop_flag != NULL && *stop_flag != 0) {
                status = REPLAY_STOPPED;
                goto out;
            }
            asyncvm_set_workgroup_id(workgroup, workgroup_index, count_x, plane);
            result = kernel(environment, state, workgroup);
            if (result != 0) {
                status = REPLAY_KERNEL_FAILED;
                goto out;
            }
            ++workgroup_index;
            if (budget_ns != 0 && monotonic_ns() - began >= budget_ns) {
                if (workgroup_index < total || dispatch_index + 1 < dispatch_count) {
                    status = REPLAY_STOPPED;
                    if (workgroup_index == total) {
                        ++dispatch_index;
                        workgroup_index = 0;
                    }
                    goto out;
                }
            }
        }
    }
    workgroup_index = 0;
out:
    Py_END_ALLOW_THREADS
    if (helper_ns_address != 0) {
        *(uint64_t *)(uintptr_t)helper_ns_address += helper_ns;
    }

    if (status == REPLAY_DONE) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(iIIi)", status, (unsigned int)dispatch_index,
                         (unsigned int)workgroup_index, result);
}

/* Interned attribute names resolve_slots reads. */
static PyObject *name_allocation, *name_immutable, *name_storage, *name_offset, *name_length;

/* An int attribute of ``object`` as a long long; 0 with an exception set
 * when it is missing or not an int in range. */
static int
int_attribute(PyObject *object, PyObject *name, long long *out)
{
    PyObject *value = PyObject_GetAttr(object, name);
    if (value == NULL) {
        return 0;
    }
    *out = PyLong_AsLongLong(value);
    Py_DECREF(value);
    return !(*out == -1 && PyErr_Occurred());
}

/* An int of a binding-table entry: 1 when it is in [minimum, INT64_MAX], 0
 * (no exception) when it is an int outside, -1 when it is not an int. */
static int
entry_int(PyObject *object, long long minimum, long long *out)
{
    if (!PyLong_Check(object)) {
        return -1;
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(object, &overflow);
    if (overflow != 0 || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return *out >= minimum;
}

PyDoc_STRVAR(resolve_slots_doc,
"resolve_slots(binding_table, buffer_type, dispatch_slots) -> tuple | None | False\n"
"\n"
"The binding table as run_dispatches takes it (four ints per slot: the\n"
"address of the slot buffer's first byte, its length, the slot's offset and\n"
"length; zeros for a null buffer), for a table of (buffer, offset, length)\n"
"entries whose buffers are exactly ``buffer_type`` (hal's Buffer: the\n"
"address is its allocation's storage's plus its offset). None when an entry\n"
"is another object or has an offset or length out of range: the general\n"
"replay then reports it. False, for the caller to resolve the table\n"
"itself, when the table is not a tuple or list of 3-tuples of a buffer (or\n"
"None) and two ints, or a slot in the set ``dispatch_slots`` holds memory that\n"
"must not be written (``allocation.immutable``: it needs its private copy\n"
"first). Does not release the GIL.");

static PyObject *
resolve_slots(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "resolve_slots(binding_table, buffer_type, dispatch_slots)");
        return NULL;
    }
    PyObject *table = args[0], *buffer_type = args[1], *dispatch_slots = args[2];
    if (!(PyTuple_Check(table) || PyList_Check(table)) || !PyAnySet_Check(dispatch_slots)) {
        Py_RETURN_FALSE;
    }
    /* Nothing below runs Python code on hal's buffers (slot attributes, a
     * bool, a set of ints, numpy's buffer export), so a list cannot change
     * while it is read; its size is checked each time all the same. */
    Py_ssize_t count = PySequence_Fast_GET_SIZE(table), slot;
    PyObject *values = PyTuple_New(count * SLOT_FIELDS);
    if (values == NULL) {
        return NULL;
    }
    for (slot = 0; slot < count; ++slot) {
        if (slot >= PySequence_Fast_GET_SIZE(table)) {
            goto elsewhere; /* a list that shrank: Python's way */
        }
        PyObject *entry = PySequence_Fast_GET_ITEM(table, slot);
        long long fields[SLOT_FIELDS] = {0, 0, 0, 0};
        int field;
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3) {
            goto elsewhere;
        }
        PyObject *buffer = PyTuple_GET_ITEM(entry, 0);
        if (buffer != Py_None) {
            long long buffer_offset, buffer_length;
            if ((PyObject *)Py_TYPE(buffer) != buffer_type) {
                goto unresolved;
            }
            int offset_is = entry_int(PyTuple_GET_ITEM(entry, 1), 0, &fields[2]);
            int length_is = entry_int(PyTuple_GET_ITEM(entry, 2), -1, &fields[3]);
            if (offset_is < 0 || length_is < 0) {
                goto elsewhere;
            }
            if (offset_is == 0 || length_is == 0) {
                goto unresolved;
            }
            PyObject *allocation = PyObject_GetAttr(buffer, name_allocation);
            if (allocation == NULL) {
                goto failed;
            }
            PyObject *immutable = PyObject_GetAttr(allocation, name_immutable);
            int must_copy = immutable == NULL ? -1 : PyObject_IsTrue(immutable);
            Py_XDECREF(immutable);
            if (must_copy == 1) {
                PyObject *number = PyLong_FromSsize_t(slot);
                must_copy = number == NULL ? -1 : PySet_Contains(dispatch_slots, number);
                Py_XDECREF(number);
            }
            if (must_copy != 0) {
                Py_DECREF(allocation);
                if (must_copy < 0) {
                    goto failed;
                }
                Py_DECREF(values);
                Py_RETURN_FALSE;
            }
            PyObject *storage = PyObject_GetAttr(allocation, name_storage);
            Py_DECREF(allocation);
            if (storage == NULL) {
                goto failed;
            }
            Py_buffer view;
            if (PyObject_GetBuffer(storage, &view, PyBUF_SIMPLE) != 0) {
                PyErr_Clear(); /* not plain contiguous memory: Python's way */
                Py_DECREF(storage);
                goto elsewhere;
            }
            uintptr_t address = (uintptr_t)view.buf;
            PyBuffer_Release(&view);
            Py_DECREF(storage);
            if (!int_attribute(buffer, name_offset, &buffer_offset) ||
                !int_attribute(buffer, name_length, &buffer_length)) {
                goto failed;
            }
            fields[0] = (long long)(address + (uintptr_t)buffer_offset);
            fields[1] = buffer_length;
        }
        for (field = 0; field < SLOT_FIELDS; ++field) {
            PyObject *number = PyLong_FromLongLong(fields[field]);
            if (number == NULL) {
                goto failed;
            }
            PyTuple_SET_ITEM(values, slot * SLOT_FIELDS + field, number);
        }
    }
    return values;

unresolved:
    Py_DECREF(values);
    Py_RETURN_NONE;
elsewhere:
    Py_DECREF(values);
    Py_RETURN_FALSE;
failed:
    Py_DECREF(values);
    return NULL;
}

static PyMethodDef workgroup_loop_methods[] = {
    {"run_workgroups", run_workgroups, METH_VARARGS, run_workgroups_doc},
    {"run_dispatches", (PyCFunction)(void (*)(void))run_dispatches, METH_FASTCALL,
     run_dispatches_doc},
    {"resolve_slots", (PyCFunction)(void (*)(void))resolve_slots, METH_FASTCALL,
     resolve_slots_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef workgroup_loop_module = {
    PyModuleDef_HEAD_INIT,
    "hal._workgroup_loop",
    "Dispatches' workgroup loops in C, one GIL release per slice (see\n"
    "hal/_native_library.py and hal/_native_replay.py).",
    0,
    workgroup_loop_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__workgroup_loop(void)
{
    name_allocation = PyUnicode_InternFromString("allocation");
    name_immutable = PyUnicode_InternFromString("immutable");
    name_storage = PyUnicode_InternFromString("storage");
    name_offset = PyUnicode_InternFromString("offset");
    name_length = PyUnicode_InternFromString("length");
    if (name_allocation == NULL || name_immutable == NULL || name_storage == NULL ||
        name_offset == NULL || name_length == NULL) {
        return NULL;
    }
    return PyModuleDef_Init(&workgroup_loop_module);
}
