/* What hal/_workgroup_loop.c and hal/_workgroup_team.c share: the workgroup
 * state of IREE's executable library ABI (executable_library.h), which both
 * write before each kernel call and which must match WorkgroupStateV0 in
 * hal/_native_library.py; the kernel's type; and the argument checks of a
 * workgroup range. Include it after Python.h. */
#ifndef ASYNCVM_WORKGROUP_ABI_H
#define ASYNCVM_WORKGROUP_ABI_H

#include <stdint.h>

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

/* One dispatch for a workgroup team (hal/_workgroup_team.c): its kernel,
 * the states it passes, the grid and the stop flag (NULL: none). The team's
 * threads copy ``workgroup`` and give the copy their own local memory. */
typedef struct {
    asyncvm_kernel kernel;
    const void *environment;
    const void *dispatch_state;
    asyncvm_workgroup_state workgroup;
    uint32_t count_x, plane;
    uint64_t end;
    volatile const int32_t *stop_flag;
} asyncvm_job;

/* What hal/_workgroup_team.c exports to hal/_workgroup_loop.c, in the
 * capsule ASYNCVM_TEAM_CAPSULE. ``run`` runs workgroups ``first`` to
 * ``job->end - 1`` on ``team`` (an instance of ``team_type``) and the
 * calling thread, which must not hold the GIL and uses ``caller``. It
 * returns the first non-zero kernel result (``*index``: its workgroup) or 0
 * (``*index``: ``job->end`` when all ran, less when the stop flag was set),
 * and adds the team's processor time to ``*helper_ns``. */
#define ASYNCVM_TEAM_CAPSULE "asyncvm.hal._workgroup_team._API"

typedef struct {
    PyTypeObject *team_type;
    int (*run)(PyObject *team, const asyncvm_job *job, asyncvm_workgroup_state *caller,
               uint32_t first, uint64_t *index, uint64_t *helper_ns);
} asyncvm_team_api;

/* Writes the ids of linear workgroup ``index``: z = index / plane and
 * index % plane = y * count_x + x. */
static inline void
asyncvm_set_workgroup_id(asyncvm_workgroup_state *workgroup, uint32_t index,
                         uint32_t count_x, uint32_t plane)
{
    uint32_t z = index / plane;
    uint32_t in_plane = index - z * plane;
    uint32_t y = in_plane / count_x;
    workgroup->workgroup_id_x = in_plane - y * count_x;
    workgroup->workgroup_id_y = y;
    workgroup->workgroup_id_z = (uint16_t)z;
}

/* 1 if [first, end) is a range of workgroups over a grid of ``count_x`` by
 * ``plane / count_x`` per z; 0 with ValueError set otherwise. */
static inline int
asyncvm_check_workgroup_range(uint32_t first, uint32_t end, uint32_t count_x, uint32_t plane)
{
    if (first > end) {
        PyErr_Format(PyExc_ValueError, "first index %u is past end %u", first, end);
        return 0;
    }
    if (first == end) {
        return 1;
    }
    if (count_x == 0 || plane == 0 || plane % count_x != 0) {
        PyErr_Format(PyExc_ValueError,
                     "plane %u is not a positive multiple of count_x %u", plane, count_x);
        return 0;
    }
    if ((end - 1) / plane > UINT16_MAX) {
        PyErr_Format(PyExc_ValueError, "workgroup index %u has a z beyond 16 bits", end - 1);
        return 0;
    }
    return 1;
}

/* "O&" converter: a Python int holding a non-null address. */
static inline int
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

#endif
