/* asyncvm.vm._bound_exports: the VM callable of a trusted export, in C.
 *
 * A bytecode module calls each import through the callable its context
 * bound at link time. For a native module's export that never suspends
 * (asyncvm/vm/_native_module.py: bound_direct_export) that callable passes
 * the module state as the first argument, makes the result a tuple (empty,
 * of one value, or the sequence of several) and turns an exception that is
 * not a VMError into one naming the export. In Python that is a frame of
 * its own on every import call, the largest part of a cheap import's cost;
 * here it is a vectorcall. Optional: the Python maker is the fallback.
 *
 * BoundExport(function, state, results, where, vm_error, export_failure,
 *             isawaitable=None)
 *     ``results`` is 0, 1 or 2 (several). ``export_failure(where, error)``
 *     makes the VMError raised, with the error as its cause, for an
 *     Exception that is not a ``vm_error``; other exceptions pass as they
 *     are. Instances take attributes (``__wrapped__``, ``__name__``...).
 *
 *     With ``isawaitable`` (``inspect.isawaitable``) it binds an export
 *     that may suspend (hal.fence.await): a tuple it returns passes as it
 *     is, and so does an awaitable (a type with ``__await__``, or what
 *     ``isawaitable`` accepts), for the invocation driver to await; other
 *     results are made a tuple as above.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyObject *function;
    PyObject *state;
    PyObject *where;
    PyObject *vm_error;
    PyObject *export_failure;
    PyObject *isawaitable; /* NULL: the export never suspends */
    PyObject *dict;
    int results;
    vectorcallfunc vectorcall;
} BoundExport;

#define SMALL_ARGUMENTS 12

/* Raises what the failed call raised, converted as the module docstring
 * says; always returns NULL. */
static PyObject *
failed(BoundExport *self)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value == NULL) {
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    if (traceback != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    int is_vm_error = PyObject_IsInstance(value, self->vm_error);
    int is_exception = PyObject_IsInstance(value, PyExc_Exception);
    if (is_vm_error != 0 || is_exception != 1) {
        /* A VMError, a BaseException that is not an Exception, or an
         * isinstance check that itself failed (raise the original). */
        if (is_vm_error < 0 || is_exception < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    PyObject *converted = PyObject_CallFunctionObjArgs(self->export_failure, self->where, value,
                                                       NULL);
    if (converted == NULL) {
        Py_XDECREF(type);
        Py_DECREF(value);
        Py_XDECREF(traceback);
        return NULL;
    }
    /* raise converted from value: the cause (which also suppresses the
     * context) and the context, each reference stolen. */
    Py_INCREF(value);
    PyException_SetCause(converted, value);
    PyException_SetContext(converted, value);
    PyErr_SetObject((PyObject *)Py_TYPE(converted), converted);
    Py_DECREF(converted);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return NULL;
}

static PyObject *
bound_call(PyObject *callable, PyObject *const *arguments, size_t count_and_flags,
           PyObject *keyword_names)
{
    BoundExport *self = (BoundExport *)callable;
    Py_ssize_t count = PyVectorcall_NARGS(count_and_flags);
    PyObject *result;
    if (keyword_names != NULL && PyTuple_GET_SIZE(keyword_names) != 0) {
        PyErr_SetString(PyExc_TypeError, "an export takes positional arguments only");
        return NULL;
    }
    PyObject *small[SMALL_ARGUMENTS];
    PyObject **all = small;
    if (count + 1 > SMALL_ARGUMENTS) {
        all = PyMem_Malloc(sizeof(PyObject *) * (size_t)(count + 1));
        if (all == NULL) {
            return PyErr_NoMemory();
        }
    }
    all[0] = self->state;
    if (count > 0) {
        memcpy(all + 1, arguments, sizeof(PyObject *) * (size_t)count);
    }
    result = PyObject_Vectorcall(self->function, all, (size_t)(count + 1), NULL);
    if (all != small) {
        PyMem_Free(all);
    }
    if (result == NULL) {
        return failed(self);
    }
    if (self->isawaitable != NULL && result != Py_None && !PyLong_CheckExact(result)) {
        if (PyTuple_CheckExact(result)) {
            return result;
        }
        PyAsyncMethods *async_methods = Py_TYPE(result)->tp_as_async;
        if (async_methods != NULL && async_methods->am_await != NULL) {
            return result; /* for the invocation driver to await */
        }
        if (!PyFloat_CheckExact(result)) {
            /* A generator-based coroutine, say: as inspect decides. */
            PyObject *verdict = PyObject_CallOneArg(self->isawaitable, result);
            int awaitable = verdict == NULL ? -1 : PyObject_IsTrue(verdict);
            Py_XDECREF(verdict);
            if (awaitable != 0) {
                if (awaitable < 0) {
                    Py_DECREF(result);
                    return failed(self); /* as the export's own failure */
                }
                return result;
            }
        }
    }
    if (self->results == 0) {
        Py_DECREF(result);
        return PyTuple_New(0);
    }
    if (self->results == 1) {
        PyObject *one = PyTuple_New(1);
        if (one == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(one, 0, result); /* steals */
        return one;
    }
    if (PyTuple_CheckExact(result)) {
        return result;
    }
    PyObject *several = PySequence_Tuple(result);
    Py_DECREF(result);
    if (several == NULL) {
        return failed(self);
    }
    return several;
}

static PyObject *
bound_new(PyTypeObject *type, PyObject *arguments, PyObject *keywords)
{
    PyObject *function, *state, *where, *vm_error, *export_failure, *isawaitable = Py_None;
    int results;
    static char *names[] = {"function", "state", "results", "where", "vm_error",
                            "export_failure", "isawaitable", NULL};
    if (!PyArg_ParseTupleAndKeywords(arguments, keywords, "OOiOOO|O:BoundExport", names,
                                     &function, &state, &results, &where, &vm_error,
                                     &export_failure, &isawaitable)) {
        return NULL;
    }
    if (isawaitable != Py_None && !PyCallable_Check(isawaitable)) {
        PyErr_SetString(PyExc_TypeError, "isawaitable must be callable or None");
        return NULL;
    }
    if (!PyCallable_Check(function) || !PyCallable_Check(export_failure)) {
        PyErr_SetString(PyExc_TypeError, "function and export_failure must be callable");
        return NULL;
    }
    if (results < 0 || results > 2) {
        PyErr_SetString(PyExc_ValueError, "results is 0, 1 or 2 (several)");
        return NULL;
    }
    BoundExport *self = (BoundExport *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->function = Py_NewRef(function);
    self->state = Py_NewRef(state);
    self->where = Py_NewRef(where);
    self->vm_error = Py_NewRef(vm_error);
    self->export_failure = Py_NewRef(export_failure);
    self->isawaitable = isawaitable == Py_None ? NULL : Py_NewRef(isawaitable);
    self->results = results;
    self->vectorcall = bound_call;
    return (PyObject *)self;
}

static int
bound_traverse(BoundExport *self, visitproc visit, void *arg)
{
    Py_VISIT(self->function);
    Py_VISIT(self->state);
    Py_VISIT(self->where);
    Py_VISIT(self->vm_error);
    Py_VISIT(self->export_failure);
    Py_VISIT(self->isawaitable);
    Py_VISIT(self->dict);
    return 0;
}

static int
bound_clear(BoundExport *self)
{
    Py_CLEAR(self->function);
    Py_CLEAR(self->state);
    Py_CLEAR(self->where);
    Py_CLEAR(self->vm_error);
    Py_CLEAR(self->export_failure);
    Py_CLEAR(self->isawaitable);
    Py_CLEAR(self->dict);
    return 0;
}

static void
bound_dealloc(BoundExport *self)
{
    PyObject_GC_UnTrack(self);
    bound_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
bound_repr(BoundExport *self)
{
    return PyUnicode_FromFormat("<asyncvm bound export %R>", self->where);
}

static PyGetSetDef bound_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BoundExportType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "asyncvm.vm._bound_exports.BoundExport",
    .tp_basicsize = sizeof(BoundExport),
    .tp_dealloc = (destructor)bound_dealloc,
    .tp_vectorcall_offset = offsetof(BoundExport, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = (reprfunc)bound_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A trusted export bound to its module state (see the module docstring).",
    .tp_traverse = (traverseproc)bound_traverse,
    .tp_clear = (inquiry)bound_clear,
    .tp_getset = bound_getset,
    .tp_dictoffset = offsetof(BoundExport, dict),
    .tp_new = bound_new,
};

static struct PyModuleDef bound_exports_module = {
    PyModuleDef_HEAD_INIT,
    "asyncvm.vm._bound_exports",
    "The VM callable of a trusted export, in C.",
    -1,
    NULL,
};

PyMODINIT_FUNC
PyInit__bound_exports(void)
{
    if (PyType_Ready(&BoundExportType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&bound_exports_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&BoundExportType);
    if (PyModule_AddObject(module, "BoundExport", (PyObject *)&BoundExportType) < 0) {
        Py_DECREF(&BoundExportType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
