/* hal._workgroup_loop: runs a slice of an llvm-cpu dispatch's workgroups in
 * one native call.
 *
 * hal/_native_library.py can call a kernel once per workgroup through ctypes,
 * but every such call releases and re-takes the GIL; with several threads
 * dispatching at once that hand-over costs more than small kernels do. This
 * module runs the whole slice [first, end) of linear workgroup indices with
 * the GIL released once around the loop.
 *
 * The kernel follows IREE's executable library ABI (executable_library.h):
 *
 *     int kernel(const environment *, const dispatch_state *, workgroup_state *)
 *
 * This file only needs the layout of the workgroup state, whose id fields it
 * writes before each call; it must match WorkgroupStateV0 in
 * hal/_native_library.py. The environment and dispatch state are passed
 * through untouched.
 *
 * The caller passes raw addresses and must keep the memory behind them
 * alive and unshared for the duration of the call: this is a private helper
 * of hal/_native_library.py, not a public API.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <time.h>

typedef struct {
    uint32_t workgroup_id_x;
    uint32_t workgroup_id_y;
    uint16_t workgroup_id_z;
    uint16_t reserved;
    uint32_t processor_id;
    void *local_memory;
    uint32_t local_memory_size;
} asyncvm_workgroup_state;

typedef int (*asyncvm_kernel)(const void *environment, const void *dispatch_state,
                              asyncvm_workgroup_state *workgroup);

/* "O&" converter: a Python int holding a non-null address. */
static int
convert_address(PyObject *object, void *out)
{
    void *address;
    if (!PyLong_Check(object)) {
        PyErr_Format(PyExc_TypeError, "an address must be an int, not %.100s",
                     Py_TYPE(object)->tp_name);
        return 0;
    }
    address = PyLong_AsVoidPtr(object);
    if (address == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "null address");
        }
        return 0;
    }
    *(void **)out = address;
    return 1;
}

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
    if (first > end) {
        PyErr_Format(PyExc_ValueError, "first index %u is past end %u", first, end);
        return NULL;
    }
    if (first < end) {
        if (count_x == 0 || plane == 0 || plane % count_x != 0) {
            PyErr_Format(PyExc_ValueError,
                         "plane %u is not a positive multiple of count_x %u", plane, count_x);
            return NULL;
        }
        if ((end - 1) / plane > UINT16_MAX) {
            PyErr_Format(PyExc_ValueError,
                         "workgroup index %u has a z beyond 16 bits", end - 1);
            return NULL;
        }
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
        uint32_t z;
        if (stop_flag != NULL && *stop_flag != 0) {
            break;
        }
        z = index / plane;
        uint32_t in_plane = index - z * plane;
        uint32_t y = in_plane / count_x;
        workgroup->workgroup_id_x = in_plane - y * count_x;
        workgroup->workgroup_id_y = y;
        workgroup->workgroup_id_z = (uint16_t)z;
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

static PyMethodDef workgroup_loop_methods[] = {
    {"run_workgroups", run_workgroups, METH_VARARGS, run_workgroups_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef workgroup_loop_module = {
    PyModuleDef_HEAD_INIT,
    "hal._workgroup_loop",
    "A dispatch's workgroup loop in C, one GIL release per slice (see\n"
    "hal/_native_library.py).",
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
    return PyModuleDef_Init(&workgroup_loop_module);
}
