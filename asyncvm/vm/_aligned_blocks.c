/* asyncvm.vm._aligned_blocks: 64-byte-aligned numpy blocks, made fast.
 *
 * Every call of a program makes a few: a device allocation per result and
 * a copy per small input. In Python each costs a numpy call plus the
 * function around it, and an input copy a typed array over the block for
 * numpy to copy into (about 0.8 microseconds); here the block is one numpy
 * call and the copy a memcpy. Optional: asyncvm/vm/_aligned_memory.py does
 * the same in Python when this extension was not built.
 *
 * block(length, zeroed) -> (block, start)
 *     A new uint8 numpy array of length + 64 bytes (zeroed or not) and the
 *     offset in it of the first 64-byte-aligned byte. MemoryError when numpy
 *     cannot provide it; ValueError for a negative length.
 *
 * copied(array, length) -> (block, start) | None
 *     The same with the first ``length`` bytes of a C-contiguous numpy
 *     array copied to ``start``; None (nothing made) for anything that is
 *     not a C-contiguous numpy.ndarray of plain bytes (no Python objects,
 *     no structured type). The caller passes the array's own
 *     ``nbytes`` as ``length``: a C-contiguous array's bytes are exactly
 *     that many, from its data pointer on.
 *
 * Counters(limit)
 *     A device allocator's statistics, counted here so that an allocation
 *     costs no Python callback, weak reference or dictionary entry.
 *     ``counters.block(length, zeroed)`` is ``block`` counted as one
 *     allocation of ``length`` bytes, and as freed when the block's memory
 *     is released: the block's ``base`` is a small object whose
 *     deallocation (which numpy's comes to with the block's own) counts
 *     the free. With a ``limit`` (0 for none) an allocation that would
 *     hold more live bytes returns, instead of a block, the live bytes it
 *     would hold (an int), counting nothing. ``counters.values()`` is
 *     (allocations, frees, bytes_allocated, bytes_freed, peak_bytes).
 *     The counts change only with the GIL held and without calling out in
 *     between, so they need no lock; a collection that frees blocks while
 *     an allocation is being made only adds to the frees.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define ALIGNMENT 64

/* The head of numpy's PyArrayObject_fields (numpy/ndarraytypes.h, the same
 * in numpy 1 and 2): enough to read the data pointer and the flags. */
typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
    PyObject *descr;
    int flags;
} ArrayHead;

#define C_CONTIGUOUS_FLAG 0x0001 /* NPY_ARRAY_C_CONTIGUOUS */

/* The head of numpy's PyArray_Descr, the same in numpy 1 and 2 up to
 * ``kind``: 'O' for Python objects, 'V' for structured types (which may
 * hold objects), neither of which is plain bytes to copy. */
typedef struct {
    PyObject_HEAD
    PyTypeObject *typeobj;
    char kind;
} DescrHead;

static PyObject *numpy_empty = NULL;
static PyObject *numpy_zeros = NULL;
static PyObject *uint8_dtype = NULL;
static PyTypeObject *ndarray_type = NULL;

/* A new block and its aligned start, as a (block, start) tuple; the block's
 * data pointer through ``data``. NULL with an exception set on failure. */
static PyObject *make_block(Py_ssize_t length, int zeroed, char **data) {
    if (length < 0 || length > PY_SSIZE_T_MAX - ALIGNMENT) {
        PyErr_SetString(PyExc_ValueError, "block length out of range");
        return NULL;
    }
    PyObject *size = PyLong_FromSsize_t(length + ALIGNMENT);
    if (size == NULL) {
        return NULL;
    }
    PyObject *arguments[2] = {size, uint8_dtype};
    PyObject *block = PyObject_Vectorcall(zeroed ? numpy_zeros : numpy_empty, arguments, 2,
                                          NULL);
    Py_DECREF(size);
    if (block == NULL) {
        return NULL;
    }
    if (Py_TYPE(block) != ndarray_type) {
        Py_DECREF(block);
        PyErr_SetString(PyExc_TypeError, "numpy.empty did not return a numpy.ndarray");
        return NULL;
    }
    char *base = ((ArrayHead *)block)->data;
    Py_ssize_t start = (Py_ssize_t)((ALIGNMENT - ((uintptr_t)base % ALIGNMENT)) % ALIGNMENT);
    PyObject *offset = PyLong_FromSsize_t(start);
    if (offset == NULL) {
        Py_DECREF(block);
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(block);
        Py_DECREF(offset);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, block);
    PyTuple_SET_ITEM(pair, 1, offset);
    *data = base + start;
    return pair;
}

/* The (length, zeroed) arguments of ``block``: 1 when read, 0 with an
 * exception set. */
static int block_arguments(PyObject *const *arguments, Py_ssize_t count, Py_ssize_t *length,
                           int *zeroed) {
    if (count != 2) {
        PyErr_SetString(PyExc_TypeError, "block(length, zeroed) takes two arguments");
        return 0;
    }
    *length = PyNumber_AsSsize_t(arguments[0], PyExc_OverflowError);
    if (*length == -1 && PyErr_Occurred()) {
        return 0;
    }
    *zeroed = PyObject_IsTrue(arguments[1]);
    return *zeroed >= 0;
}

/* -- counted blocks ------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    long long allocations;
    long long frees;
    long long bytes_allocated;
    long long bytes_freed;
    long long peak;
    long long limit; /* 0: none */
} Counters;

/* The ``base`` of a counted block: counts its length freed when it goes. */
typedef struct {
    PyObject_HEAD
    Counters *counters; /* a strong reference */
    long long length;
} Release;

static void release_dealloc(Release *self) {
    Counters *counters = self->counters;
    counters->frees += 1;
    counters->bytes_freed += self->length;
    Py_DECREF(counters);
    PyObject_Free(self);
}

static PyTypeObject ReleaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asyncvm.vm._aligned_blocks.Release",
    .tp_basicsize = sizeof(Release),
    .tp_dealloc = (destructor)release_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counts a block's memory freed when the block is released.",
};

static PyObject *counters_new(PyTypeObject *type, PyObject *arguments, PyObject *keywords) {
    long long limit = 0;
    static char *names[] = {"limit", NULL};
    if (!PyArg_ParseTupleAndKeywords(arguments, keywords, "L", names, &limit)) {
        return NULL;
    }
    if (limit < 0) {
        PyErr_SetString(PyExc_ValueError, "a limit is a number of bytes, 0 for none");
        return NULL;
    }
    Counters *self = (Counters *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->limit = limit;
    }
    return (PyObject *)self;
}

static void counters_dealloc(Counters *self) {
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(counters_block_doc,
"block(length, zeroed) -> (block, start) | int\n\n"
"block(length, zeroed) counted as an allocation, and as freed once the\n"
"block's memory is released; past the limit, the live bytes it would\n"
"hold, nothing being counted or made.");

static PyObject *counters_block(Counters *self, PyObject *const *arguments, Py_ssize_t count) {
    Py_ssize_t length;
    int zeroed;
    if (!block_arguments(arguments, count, &length, &zeroed)) {
        return NULL;
    }
    if (length < 0) {
        PyErr_SetString(PyExc_ValueError, "block length out of range");
        return NULL;
    }
    long long live = self->bytes_allocated - self->bytes_freed + (long long)length;
    long long previous_peak = self->peak;
    if (live > previous_peak && self->limit != 0 && live > self->limit) {
        return PyLong_FromLongLong(live);
    }
    Release *release = PyObject_New(Release, &ReleaseType); /* runs no Python code */
    if (release == NULL) {
        return NULL;
    }
    /* Counted before the block is made: a collection during its making may
     * free other blocks, which only adds to the frees. */
    if (live > previous_peak) {
        self->peak = live;
    }
    self->allocations += 1;
    self->bytes_allocated += length;
    Py_INCREF(self);
    release->counters = self;
    release->length = length;
    char *data;
    PyObject *pair = make_block(length, zeroed, &data);
    if (pair == NULL) {
        /* Not made: its release counts it freed, so take back both. */
        Py_DECREF(release);
        self->allocations -= 1;
        self->frees -= 1;
        self->bytes_allocated -= length;
        self->bytes_freed -= length;
        if (self->peak == live) {
            self->peak = previous_peak;
        }
        return NULL;
    }
    /* A block numpy just made owns its data and has no base: the release
     * becomes its base, which numpy drops when it frees the block. */
    ((ArrayHead *)PyTuple_GET_ITEM(pair, 0))->base = (PyObject *)release;
    return pair;
}

static PyObject *counters_values(Counters *self, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("(LLLLL)", self->allocations, self->frees, self->bytes_allocated,
                         self->bytes_freed, self->peak);
}

static PyMethodDef counters_methods[] = {
    {"block", (PyCFunction)(void (*)(void))counters_block, METH_FASTCALL, counters_block_doc},
    {"values", (PyCFunction)counters_values, METH_NOARGS,
     "(allocations, frees, bytes_allocated, bytes_freed, peak_bytes)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CountersType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asyncvm.vm._aligned_blocks.Counters",
    .tp_basicsize = sizeof(Counters),
    .tp_dealloc = (destructor)counters_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counters(limit): a device allocator's statistics (see the module comment).",
    .tp_methods = counters_methods,
    .tp_new = counters_new,
};

/* -- plain blocks ---------------------------------------------------------- */

PyDoc_STRVAR(block_doc,
"block(length, zeroed) -> (block, start)\n\n"
"A new uint8 array of length + 64 bytes and the offset of its first\n"
"64-byte-aligned byte. MemoryError if numpy cannot allocate it.");

static PyObject *block(PyObject *self, PyObject *const *arguments, Py_ssize_t count) {
    (void)self;
    Py_ssize_t length;
    int zeroed;
    if (!block_arguments(arguments, count, &length, &zeroed)) {
        return NULL;
    }
    char *data;
    return make_block(length, zeroed, &data);
}

PyDoc_STRVAR(copied_doc,
"copied(array, length) -> (block, start) | None\n\n"
"A new block (as block(length, False)) holding a copy of the first\n"
"``length`` bytes of a C-contiguous numpy array of plain bytes,\n"
"``length`` being its nbytes; None for any other object.");

static PyObject *copied(PyObject *self, PyObject *const *arguments, Py_ssize_t count) {
    (void)self;
    if (count != 2) {
        PyErr_SetString(PyExc_TypeError, "copied(array, length) takes two arguments");
        return NULL;
    }
    PyObject *array = arguments[0];
    if (Py_TYPE(array) != ndarray_type
            || !(((ArrayHead *)array)->flags & C_CONTIGUOUS_FLAG)) {
        Py_RETURN_NONE;
    }
    char kind = ((DescrHead *)((ArrayHead *)array)->descr)->kind;
    if (kind == 'O' || kind == 'V') {
        Py_RETURN_NONE;
    }
    Py_ssize_t length = PyNumber_AsSsize_t(arguments[1], PyExc_OverflowError);
    if (length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    char *data;
    PyObject *pair = make_block(length, 0, &data);
    if (pair != NULL && length > 0) {
        memcpy(data, ((ArrayHead *)array)->data, (size_t)length);
    }
    return pair;
}

static PyMethodDef aligned_blocks_methods[] = {
    {"block", (PyCFunction)(void (*)(void))block, METH_FASTCALL, block_doc},
    {"copied", (PyCFunction)(void (*)(void))copied, METH_FASTCALL, copied_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef aligned_blocks_module = {
    PyModuleDef_HEAD_INIT,
    "asyncvm.vm._aligned_blocks",
    "64-byte-aligned numpy blocks, and copies into them.",
    -1,
    aligned_blocks_methods,
};

PyMODINIT_FUNC PyInit__aligned_blocks(void) {
    PyObject *numpy = PyImport_ImportModule("numpy");
    if (numpy == NULL) {
        return NULL;
    }
    numpy_empty = PyObject_GetAttrString(numpy, "empty");
    numpy_zeros = PyObject_GetAttrString(numpy, "zeros");
    PyObject *uint8_type = PyObject_GetAttrString(numpy, "uint8");
    PyObject *dtype = PyObject_GetAttrString(numpy, "dtype");
    PyObject *ndarray = PyObject_GetAttrString(numpy, "ndarray");
    Py_DECREF(numpy);
    if (numpy_empty == NULL || numpy_zeros == NULL || uint8_type == NULL || dtype == NULL
            || ndarray == NULL || !PyType_Check(ndarray)) {
        Py_XDECREF(uint8_type);
        Py_XDECREF(dtype);
        Py_XDECREF(ndarray);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ImportError, "numpy.ndarray is not a type");
        }
        return NULL;
    }
    uint8_dtype = PyObject_CallOneArg(dtype, uint8_type);
    Py_DECREF(uint8_type);
    Py_DECREF(dtype);
    if (uint8_dtype == NULL) {
        Py_DECREF(ndarray);
        return NULL;
    }
    ndarray_type = (PyTypeObject *)ndarray; /* keeps the reference */
    if (PyType_Ready(&ReleaseType) < 0 || PyType_Ready(&CountersType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&aligned_blocks_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&CountersType);
    if (PyModule_AddObject(module, "Counters", (PyObject *)&CountersType) < 0) {
        Py_DECREF(&CountersType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
