/* Bounded repr text: reprs.py's value_repr and local_repr in C.

   Strings, bytes, scalars, objects and short flat containers (numbers, or short
   str/bytes) are done here; other containers, whose repr reprs.py builds only as
   far as the limit shows, are handed to the Python value_repr. The result is
   the same text either way (the tests check it). */
#include "ctrace.h"

int
is_atomic(PyTypeObject *t)
{
    /* reprs.ATOMIC: immutable types whose repr cannot change while the same object is bound */
    return t == &PyLong_Type || t == &PyUnicode_Type || t == &PyFloat_Type || t == &PyBool_Type
        || t == Py_TYPE(Py_None) || t == &PyBytes_Type || t == &PyComplex_Type
        || t == Py_TYPE(Py_Ellipsis) || t == &PyRange_Type || t == &PyType_Type
        || t == &PyFunction_Type || t == &PyCFunction_Type || t == &PyModule_Type;
}

static int
is_number(PyTypeObject *t)
{
    return t == &PyLong_Type || t == &PyFloat_Type || t == &PyBool_Type || t == Py_TYPE(Py_None)
        || t == &PyComplex_Type;
}

/* reprs._flat, item by item: all numbers, or all str/bytes no longer than the limit. */
typedef struct {
    int numbers, text;
    Py_ssize_t longest;
} Flat;

static void
flat_add(Flat *f, PyObject *item)
{
    PyTypeObject *t = Py_TYPE(item);
    f->numbers = f->numbers && is_number(t);
    if (t == &PyUnicode_Type) {
        f->longest = Py_MAX(f->longest, PyUnicode_GET_LENGTH(item));
    }
    else if (t == &PyBytes_Type) {
        f->longest = Py_MAX(f->longest, PyBytes_GET_SIZE(item));
    }
    else {
        f->text = 0;
    }
}

static int
flat_ok(Flat *f, Py_ssize_t limit)
{
    return f->numbers || (f->text && f->longest <= limit);
}

/* reprs._short_and_flat for a list, tuple, set, frozenset or dict: 1, 0, or -1 on error. */
static int
short_and_flat(PyObject *obj, Py_ssize_t limit)
{
    Flat keys = {1, 1, 0}, values = {1, 1, 0};
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyDict_Type) {
        if (PyDict_GET_SIZE(obj) > limit / 3) {
            return 0;
        }
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(obj, &pos, &k, &v)) {
            flat_add(&keys, k);
            flat_add(&values, v);
        }
        return flat_ok(&keys, limit) && flat_ok(&values, limit);
    }
    if (t == &PyList_Type || t == &PyTuple_Type) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
        if (n > limit / 3) {
            return 0;
        }
        PyObject **items = PySequence_Fast_ITEMS(obj);
        for (Py_ssize_t i = 0; i < n; i++) {
            flat_add(&keys, items[i]);
        }
        return flat_ok(&keys, limit);
    }
    /* set, frozenset: iterate (their items are only reachable through the iterator) */
    if (PySet_GET_SIZE(obj) > limit / 3) {
        return 0;
    }
    PyObject *it = PyObject_GetIter(obj);
    if (it == NULL) {
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        flat_add(&keys, item);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return -1;
    }
    return flat_ok(&keys, limit);
}

/* "<unreprable TYPE: ERROR>" for an Exception raised by repr; anything else propagates. */
static PyObject *
unreprable(PyObject *obj)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return NULL; /* KeyboardInterrupt, SystemExit, TraceLimit: not repr's failure */
    }
    PyObject *name;
    if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        PyErr_Clear();
        name = PyUnicode_FromString("RecursionError");
    }
    else {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        name = PyType_GetName((PyTypeObject *)type);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    if (name == NULL) {
        return NULL;
    }
    PyObject *qualname = PyType_GetQualName(Py_TYPE(obj));
    if (qualname == NULL) { /* reprs._type_name: a metaclass can make even this fail */
        PyErr_Clear();
        qualname = PyUnicode_FromString("object");
        if (qualname == NULL) {
            Py_DECREF(name);
            return NULL;
        }
    }
    PyObject *text = PyUnicode_FromFormat("<unreprable %U: %U>", qualname, name);
    Py_DECREF(qualname);
    Py_DECREF(name);
    return text;
}

/* repr of the first limit + 1 characters or bytes: enough to fill the limit */
static PyObject *
head_repr(PyObject *obj, Py_ssize_t size, Py_ssize_t limit)
{
    if (size <= limit + 1) {
        return PyObject_Repr(obj);
    }
    PyObject *head = PySequence_GetSlice(obj, 0, limit + 1);
    if (head == NULL) {
        return NULL;
    }
    PyObject *text = PyObject_Repr(head);
    Py_DECREF(head);
    return text;
}

PyObject *
value_repr(PyObject *obj, Py_ssize_t limit)
{
    PyTypeObject *t = Py_TYPE(obj);
    PyObject *text;
    if (t == &PyUnicode_Type) {
        text = head_repr(obj, PyUnicode_GET_LENGTH(obj), limit);
    }
    else if (t == &PyBytes_Type) {
        text = head_repr(obj, PyBytes_GET_SIZE(obj), limit);
    }
    else if (t == &PyByteArray_Type) {
        text = head_repr(obj, PyByteArray_GET_SIZE(obj), limit);
    }
    else if (t == &PyList_Type || t == &PyTuple_Type || t == &PyDict_Type || t == &PySet_Type
             || t == &PyFrozenSet_Type) {
        int flat = short_and_flat(obj, limit);
        if (flat == 0) { /* long or nested: reprs.py renders only what the limit shows */
            return PyObject_CallFunction(g_py_value_repr, "On", obj, limit);
        }
        text = flat > 0 ? PyObject_Repr(obj) : NULL;
    }
    else {
        text = PyObject_Repr(obj);
    }
    if (text == NULL) {
        return unreprable(obj);
    }
    if (PyUnicode_GET_LENGTH(text) > limit) {
        PyObject *cut = PyUnicode_Substring(text, 0, limit);
        Py_DECREF(text);
        if (cut == NULL) {
            return NULL;
        }
        text = PyUnicode_Concat(cut, g_truncated);
        Py_DECREF(cut);
    }
    return text;
}

PyObject *
local_repr(PyObject *obj, Py_ssize_t limit)
{
    PyObject *text = value_repr(obj, limit);
    if (text != NULL && PyUnicode_GET_LENGTH(text) == 2 && PyUnicode_Compare(text, g_dots) == 0) {
        Py_DECREF(text);
        return Py_NewRef(g_dots_repr); /* ".." is reserved for an unchanged local */
    }
    return text;
}
