/* hal._workgroup_team: one llvm-cpu dispatch's workgroups spread over native threads.
 *
 * On local-task a dispatch of many workgroups runs on several cores. Handing
 * slices to Python threads costs a thread wake-up per helper per dispatch
 * (tens of microseconds on a busy machine) plus Python work to wait for
 * them; a network of a hundred dispatches per call pays it a hundred times.
 * A WorkgroupTeam keeps ``helpers`` native threads that never take the GIL:
 * ``run`` publishes the dispatch, the calling thread and every helper that
 * joins claim workgroups one at a time from a shared counter, and the call
 * returns once all of them are done. A helper that finished a dispatch spins
 * for a short while (SPIN_NS) before it sleeps, so the next dispatch of the
 * same command buffer usually finds it awake.
 *
 * The kernels follow IREE's executable library ABI (executable_library.h,
 * hal/_workgroup_abi.h), as in hal/_workgroup_loop.c: each helper runs them
 * with its own copy of the caller's workgroup state, which has its own local
 * memory of the same size. The caller passes raw addresses and must keep
 * the memory behind them alive for the duration of the call: this is a
 * private helper of hal/_native_library.py, not a public API.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "_workgroup_abi.h"

/* How long an idle helper watches for the next dispatch before it sleeps,
 * and how long the caller watches for the helpers to finish before it does. */
#define SPIN_NS 50000u

/* The shared progress of one dispatch. */
typedef struct {
    _Atomic uint64_t next; /* the next linear workgroup index to claim */
    _Atomic uint64_t ran;  /* workgroups that returned 0 */
    _Atomic int result;    /* the first non-zero kernel result */
    _Atomic uint64_t failed_index;
} asyncvm_claims;

typedef struct WorkgroupTeam WorkgroupTeam;

struct WorkgroupTeam {
    PyObject_HEAD
    pthread_mutex_t mutex;
    pthread_cond_t wake;   /* helpers: a new generation or shutdown */
    pthread_cond_t done;   /* the caller: busy reached 0 */
    uint32_t helper_count;
    uint32_t started;      /* helper threads running */
    pthread_t *threads;
    int in_use;            /* a caller's dispatch is on */
    int shutdown;
    int sleeping;          /* helpers waiting on wake */
    int caller_waiting;
    pid_t owner;           /* the process that started the helpers */
    /* The current dispatch: written under the mutex while no helper is in it. */
    asyncvm_job job;
    int open;              /* helpers may join it */
    _Atomic uint64_t generation;
    _Atomic int busy;      /* helpers in it */
    asyncvm_claims claims;
    _Atomic uint64_t helper_ns; /* helpers' processor time in it */
};

static uint64_t
clock_ns(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static inline void
pause_briefly(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Claims and runs workgroups of ``job`` until none is left, one fails, or
 * the stop flag is set. */
static void
run_claims(asyncvm_claims *claims, const asyncvm_job *job, asyncvm_workgroup_state *workgroup)
{
    for (;;) {
        uint64_t index;
        int result;
        if (atomic_load_explicit(&claims->result, memory_order_relaxed) != 0) {
            return;
        }
        if (job->stop_flag != NULL && *job->stop_flag != 0) {
            return;
        }
        index = atomic_fetch_add_explicit(&claims->next, 1, memory_order_relaxed);
        if (index >= job->end) {
            return;
        }
        asyncvm_set_workgroup_id(workgroup, (uint32_t)index, job->count_x, job->plane);
        result = job->kernel(job->environment, job->dispatch_state, workgroup);
        if (result != 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&claims->result, &expected, result)) {
                atomic_store(&claims->failed_index, index);
            }
            return;
        }
        atomic_fetch_add_explicit(&claims->ran, 1, memory_order_relaxed);
    }
}

static void *
helper_main(void *argument)
{
    WorkgroupTeam *team = (WorkgroupTeam *)argument;
    uint64_t seen = 0;
    void *memory = NULL;
    uint32_t memory_size = 0;

    for (;;) {
        asyncvm_job job;
        asyncvm_workgroup_state workgroup;
        uint64_t spin_end = clock_ns(CLOCK_MONOTONIC) + SPIN_NS, began;
        while (atomic_load_explicit(&team->generation, memory_order_acquire) == seen
               && clock_ns(CLOCK_MONOTONIC) < spin_end) {
            pause_briefly();
        }
        pthread_mutex_lock(&team->mutex);
        while (atomic_load(&team->generation) == seen && !team->shutdown) {
            team->sleeping++;
            pthread_cond_wait(&team->wake, &team->mutex);
            team->sleeping--;
        }
        if (team->shutdown) {
            pthread_mutex_unlock(&team->mutex);
            break;
        }
        seen = atomic_load(&team->generation);
        if (!team->open) {
            pthread_mutex_unlock(&team->mutex);
            continue;
        }
        job = team->job;
        if (job.workgroup.local_memory_size > memory_size) {
            void *larger = NULL;
            size_t rounded = ((size_t)job.workgroup.local_memory_size + 63u) & ~(size_t)63u;
            if (posix_memalign(&larger, 64, rounded) != 0) {
                /* No local memory for it: leave this dispatch to the others. */
                pthread_mutex_unlock(&team->mutex);
                continue;
            }
            free(memory);
            memory = larger;
            memory_size = job.workgroup.local_memory_size;
        }
        atomic_fetch_add(&team->busy, 1);
        pthread_mutex_unlock(&team->mutex);

        /* The same processor id: the dispatch state declares a concurrency of
           one, and a kernel may size per-processor data by it. */
        workgroup = job.workgroup;
        if (workgroup.local_memory_size != 0) {
            workgroup.local_memory = memory;
        }
        began = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        run_claims(&team->claims, &job, &workgroup);
        atomic_fetch_add(&team->helper_ns, clock_ns(CLOCK_THREAD_CPUTIME_ID) - began);

        pthread_mutex_lock(&team->mutex);
        if (atomic_fetch_sub(&team->busy, 1) == 1 && team->caller_waiting) {
            pthread_cond_signal(&team->done);
        }
        pthread_mutex_unlock(&team->mutex);
    }
    free(memory);
    return NULL;
}

/* Starts the helpers not running yet; fewer start if the system refuses.
 * They block every signal, so that signals reach the interpreter's threads
 * and never interrupt a kernel. */
static void
start_helpers(WorkgroupTeam *team)
{
    sigset_t all, previous;
    if (team->owner != getpid()) {
        /* A child of a fork: the parent's helpers are not here. */
        team->started = 0;
        team->sleeping = 0;
        team->owner = getpid();
    }
    if (team->started == team->helper_count) {
        return;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    while (team->started < team->helper_count) {
        if (pthread_create(&team->threads[team->started], NULL, helper_main, team) != 0) {
            break;
        }
#if defined(__linux__)
        pthread_setname_np(team->threads[team->started], "asyncvm-team");
#endif
        team->started++;
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}

static int
team_init(WorkgroupTeam *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"helpers", NULL};
    unsigned int helpers;
    if (self->threads != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a WorkgroupTeam is initialized once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "I:WorkgroupTeam", keywords, &helpers)) {
        return -1;
    }
    if (helpers == 0 || helpers > 1024) {
        PyErr_Format(PyExc_ValueError, "helpers must be 1 to 1024, not %u", helpers);
        return -1;
    }
    self->threads = PyMem_RawCalloc(helpers, sizeof(pthread_t));
    if (self->threads == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    pthread_mutex_init(&self->mutex, NULL);
    pthread_cond_init(&self->wake, NULL);
    pthread_cond_init(&self->done, NULL);
    self->helper_count = helpers;
    return 0;
}

static void
team_dealloc(WorkgroupTeam *self)
{
    if (self->threads != NULL) {
        uint32_t index;
        /* The helpers never take the GIL, and none is in a dispatch (a run
           holds a reference): they see the shutdown within their spin. */
        if (self->owner == getpid()) {
            pthread_mutex_lock(&self->mutex);
            self->shutdown = 1;
            pthread_cond_broadcast(&self->wake);
            pthread_mutex_unlock(&self->mutex);
            for (index = 0; index < self->started; index++) {
                pthread_join(self->threads[index], NULL);
            }
        }
        pthread_cond_destroy(&self->done);
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->mutex);
        PyMem_RawFree(self->threads);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ``run`` with the GIL released (see asyncvm_team_api in
 * hal/_workgroup_abi.h): what both the Python method and the C replay of a
 * plan (hal/_workgroup_loop.c) call. */
static int
run_released(PyObject *object, const asyncvm_job *job_pointer, asyncvm_workgroup_state *caller,
             uint32_t first, uint64_t *index, uint64_t *helper_ns_out)
{
    WorkgroupTeam *self = (WorkgroupTeam *)object;
    asyncvm_job job = *job_pointer;
    int alone, result;
    uint64_t ran, failed_index, helper_ns;

    if (self->threads == NULL) {
        alone = 1; /* made without __init__: no helpers, no mutex */
    }
    else {
        pthread_mutex_lock(&self->mutex);
        alone = self->in_use;
    }
    if (!alone) {
        self->in_use = 1;
        start_helpers(self);
        self->job = job;
        atomic_store(&self->claims.next, first);
        atomic_store(&self->claims.ran, 0);
        atomic_store(&self->claims.result, 0);
        atomic_store(&self->claims.failed_index, 0);
        atomic_store(&self->helper_ns, 0);
        self->open = 1;
        atomic_fetch_add_explicit(&self->generation, 1, memory_order_release);
        if (self->sleeping > 0) {
            pthread_cond_broadcast(&self->wake);
        }
    }
    if (self->threads != NULL) {
        pthread_mutex_unlock(&self->mutex);
    }
    if (alone) {
        /* Another dispatch has the team: this one runs on its own thread. */
        asyncvm_claims own;
        atomic_init(&own.next, first);
        atomic_init(&own.ran, 0);
        atomic_init(&own.result, 0);
        atomic_init(&own.failed_index, 0);
        run_claims(&own, &job, caller);
        result = atomic_load(&own.result);
        ran = atomic_load(&own.ran);
        failed_index = atomic_load(&own.failed_index);
        helper_ns = 0;
    }
    else {
        uint64_t spin_end;
        run_claims(&self->claims, &job, caller);
        pthread_mutex_lock(&self->mutex);
        self->open = 0; /* no helper joins from now on */
        pthread_mutex_unlock(&self->mutex);
        spin_end = clock_ns(CLOCK_MONOTONIC) + SPIN_NS;
        while (atomic_load(&self->busy) != 0 && clock_ns(CLOCK_MONOTONIC) < spin_end) {
            pause_briefly();
        }
        pthread_mutex_lock(&self->mutex);
        while (atomic_load(&self->busy) != 0) {
            self->caller_waiting = 1;
            pthread_cond_wait(&self->done, &self->mutex);
        }
        self->caller_waiting = 0;
        self->in_use = 0;
        result = atomic_load(&self->claims.result);
        ran = atomic_load(&self->claims.ran);
        failed_index = atomic_load(&self->claims.failed_index);
        helper_ns = atomic_load(&self->helper_ns);
        pthread_mutex_unlock(&self->mutex);
    }
    *helper_ns_out += helper_ns;
    if (result != 0) {
        *index = failed_index;
    }
    else {
        /* Everything ran, or the stop flag left some: then any index below end. */
        *index = ran == job.end - first ? job.end : first + ran;
    }
    return result;
}

PyDoc_STRVAR(team_run_doc,
"run(entry, environment, dispatch_state, workgroup_state, count_x, plane, first, end,\n"
"    stop_flag=0) -> (result, stopped, helper_ns)\n"
"\n"
"Calls the kernel at address ``entry`` once for each linear workgroup index\n"
"``first`` to ``end - 1`` (index i is workgroup (x, y, z) with z = i // plane\n"
"and i % plane = y * count_x + x), on this thread and the team's helpers at\n"
"once, with the GIL released; returns when every one has returned. This\n"
"thread uses ``workgroup_state``; each helper a copy of it with its own\n"
"local memory. No workgroup starts once one returned\n"
"non-zero (``result`` is that value and ``stopped`` its index) or once the\n"
"32-bit int at ``stop_flag`` (0: none) is non-zero (``result`` 0 and\n"
"``stopped`` less than ``end``); otherwise ``(0, end, helper_ns)``.\n"
"``helper_ns`` is the processor time the helpers spent on it. While another\n"
"thread's call is running, this one runs every workgroup on this thread.");

static PyObject *
team_run(WorkgroupTeam *self, PyObject *args)
{
    void *entry_address, *environment, *dispatch_state, *workgroup_address;
    unsigned int count_x, plane, first, end;
    unsigned long long stop_address = 0;
    asyncvm_job job;
    int result;
    uint64_t stopped, helper_ns = 0;

    if (!PyArg_ParseTuple(args, "O&O&O&O&IIII|K:run",
                          convert_address, &entry_address, convert_address, &environment,
                          convert_address, &dispatch_state, convert_address, &workgroup_address,
                          &count_x, &plane, &first, &end, &stop_address)) {
        return NULL;
    }
    if (!asyncvm_check_workgroup_range(first, end, count_x, plane)) {
        return NULL;
    }
    if (first == end) {
        return Py_BuildValue("(iIK)", 0, end, 0ULL);
    }
    /* A data pointer to function pointer conversion: the address came from
       the library's export table. */
    job.kernel = (asyncvm_kernel)(uintptr_t)entry_address;
    job.environment = environment;
    job.dispatch_state = dispatch_state;
    job.workgroup = *(asyncvm_workgroup_state *)workgroup_address;
    job.count_x = count_x;
    job.plane = plane;
    job.end = end;
    job.stop_flag = (volatile const int32_t *)(uintptr_t)stop_address;

    Py_BEGIN_ALLOW_THREADS
    result = run_released((PyObject *)self, &job, (asyncvm_workgroup_state *)workgroup_address,
                          first, &stopped, &helper_ns);
    Py_END_ALLOW_THREADS

    return Py_BuildValue("(iKK)", result, (unsigned long long)stopped,
                         (unsigned long long)helper_ns);
}

static PyObject *
team_helpers(WorkgroupTeam *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->helper_count);
}

static PyMethodDef team_methods[] = {
    {"run", (PyCFunction)team_run, METH_VARARGS, team_run_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef team_getset[] = {
    {"helpers", (getter)team_helpers, NULL, "The number of helper threads.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(team_doc,
"WorkgroupTeam(helpers)\n"
"\n"
"``helpers`` native threads (1 to 1024, started by the first run, named\n"
"asyncvm-team on Linux) that run one dispatch's workgroups beside the\n"
"calling thread: see run. The threads never take the GIL and block every\n"
"signal; they end when the team is collected.");

static PyTypeObject WorkgroupTeamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asyncvm.hal._workgroup_team.WorkgroupTeam",
    .tp_basicsize = sizeof(WorkgroupTeam),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = team_doc,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)team_init,
    .tp_dealloc = (destructor)team_dealloc,
    .tp_methods = team_methods,
    .tp_getset = team_getset,
};

static struct PyModuleDef workgroup_team_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "asyncvm.hal._workgroup_team",
    .m_doc = "One llvm-cpu dispatch's workgroups spread over native threads "
             "(private; see hal/_native_library.py).",
    .m_size = -1,
};

static asyncvm_team_api team_api = {&WorkgroupTeamType, run_released};

PyMODINIT_FUNC
PyInit__workgroup_team(void)
{
    PyObject *module, *capsule;
    if (PyType_Ready(&WorkgroupTeamType) < 0) {
        return NULL;
    }
    module = PyModule_Create(&workgroup_team_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&WorkgroupTeamType);
    if (PyModule_AddObject(module, "WorkgroupTeam", (PyObject *)&WorkgroupTeamType) < 0) {
        Py_DECREF(&WorkgroupTeamType);
        Py_DECREF(module);
        return NULL;
    }
    capsule = PyCapsule_New(&team_api, ASYNCVM_TEAM_CAPSULE, NULL);
    if (capsule == NULL || PyModule_AddObject(module, "_API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
