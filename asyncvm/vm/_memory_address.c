/* asyncvm.vm._memory_address: the address of an object's memory, fast.
 *
 * The runtime asks for the address of numpy memory on every allocation (to
 * place it on the 64-byte boundary), every argument (to check that
 * boundary) and every dispatch binding (to hand it to a kernel). numpy's own
 * ways (``__array_interface__``, ``.ctypes.data``) build a dictionary or a
 * ctypes object each time and cost microseconds; the buffer protocol gives
 * the same number in tens of nanoseconds. Optional: asyncvm/vm/_address.py
 * falls back to numpy when this extension was not built.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

PyDoc_STRVAR(address_of_doc,
"address_of(object) -> int\n\n"
"The address of the first byte of ``object``'s memory (any object with the\n"
"buffer protocol, read-only ones included). TypeError for other objects.");

/* numpy.ndarray, once seen: its instances start with numpy's
 * PyArrayObject_fields, whose first field after the object header is the
 * data pointer (what numpy's own PyArray_DATA reads). Reading it directly
 * skips the buffer protocol, which numpy answers by building, and then
 * keeping on the array for its lifetime, a buffer-info record. */
static PyTypeObject *ndarray_type = NULL;

typedef struct {
    PyObject_HEAD
    char *data;
} ArrayHead;

static PyObject *address_of(PyObject *self, PyObject *object) {
    PyTypeObject *type = Py_TYPE(object);
    if (type == ndarray_type) {
        return PyLong_FromSize_t((size_t)(uintptr_t)((ArrayHead *)object)->data);
    }
    if (ndarray_type == NULL && strcmp(type->tp_name, "numpy.ndarray") == 0) {
        Py_INCREF(type);
        ndarray_type = type;
        return PyLong_FromSize_t((size_t)(uintptr_t)((ArrayHead *)object)->data);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(object, &view, PyBUF_SIMPLE) != 0) {
        /* Non-contiguous arrays refuse PyBUF_SIMPLE; their first element is
         * still where strided access starts. */
        PyErr_Clear();
        if (PyObject_GetBuffer(object, &view, PyBUF_STRIDES) != 0) {
            return NULL;
        }
    }
    uintptr_t address = (uintptr_t)view.buf;
    PyBuffer_Release(&view);
    return PyLong_FromSize_t((size_t)address);
}

static PyMethodDef memory_address_methods[] = {
    {"address_of", address_of, METH_O, address_of_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef memory_address_module = {
    PyModuleDef_HEAD_INIT,
    "asyncvm.vm._memory_address",
    "The address of an object's memory through the buffer protocol.",
    -1,
    memory_address_methods,
};

PyMODINIT_FUNC PyInit__memory_address(void) {
    return PyModule_Create(&memory_address_module);
}
