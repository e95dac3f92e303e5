/* Bounded repr text: reprs.py's value_repr and local_repr in C, function for function
   (_repr, _short_and_flat, _flat_head, _bounded, _element), so that both give the
   same text for every value (the tests compare them on generated values). */
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

static int
is_container(PyTypeObject *t)
{
    return t == &PyList_Type || t == &PyTuple_Type || t == &PyDict_Type || t == &PySet_Type
        || t == &PyFrozenSet_Type;
}

/* reprs._flat over an iterable (a set's items, a dict's values): 1, 0, -1 on error */
static int
flat_iterable(PyObject *items, Py_ssize_t limit)
{
    Flat f = {1, 1, 0};
    PyObject *it = PyObject_GetIter(items), *item;
    if (it == NULL) {
        return -1;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        flat_add(&f, item);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : flat_ok(&f, limit);
}

/* reprs._flat_head: the repr of the first k items of a long flat container, or NULL
   with no error set (None) when they are not flat. */
static PyObject *
flat_head(PyObject *obj, Py_ssize_t k)
{
    PyTypeObject *t = Py_TYPE(obj);
    PyObject *head = NULL, *text = NULL;
    int flat;
    if (t == &PyList_Type || t == &PyTuple_Type) {
        head = PySequence_GetSlice(obj, 0, k);
        if (head == NULL) {
            return NULL;
        }
        flat = flat_iterable(head, k * 3);
        text = flat > 0 ? PyObject_Repr(head) : NULL;
    }
    else if (t == &PyDict_Type) {
        head = PyDict_New();
        Py_ssize_t pos = 0, n = 0;
        PyObject *key, *value;
        while (head != NULL && n < k && PyDict_Next(obj, &pos, &key, &value)) {
            if (PyDict_SetItem(head, key, value) < 0) {
                Py_CLEAR(head);
            }
            n++;
        }
        if (head == NULL) {
            return NULL;
        }
        PyObject *values = PyDict_Values(head);
        flat = values == NULL ? -1 : flat_iterable(head, k * 3);
        if (flat > 0) {
            flat = flat_iterable(values, k * 3);
        }
        Py_XDECREF(values);
        text = flat > 0 ? PyObject_Repr(head) : NULL;
    }
    else { /* a set's repr lists its items in iteration order */
        head = PyList_New(0);
        PyObject *it = head != NULL ? PyObject_GetIter(obj) : NULL, *item;
        if (it == NULL) {
            Py_XDECREF(head);
            return NULL;
        }
        while (PyList_GET_SIZE(head) < k && (item = PyIter_Next(it)) != NULL) {
            int rc = PyList_Append(head, item);
            Py_DECREF(item);
            if (rc < 0) {
                break;
            }
        }
        Py_DECREF(it);
        flat = PyErr_Occurred() ? -1 : flat_iterable(head, k * 3);
        if (flat > 0) {
            PyObject *inner = PyObject_Repr(head); /* "[a, b]" -> "{a, b}" */
            if (inner != NULL) {
                PyObject *middle = PyUnicode_Substring(inner, 1, PyUnicode_GET_LENGTH(inner) - 1);
                text = middle == NULL ? NULL
                     : PyUnicode_FromFormat(t == &PySet_Type ? "{%U}" : "frozenset({%U})", middle);
                Py_XDECREF(middle);
                Py_DECREF(inner);
            }
        }
    }
    Py_DECREF(head);
    return flat < 0 ? NULL : text;
}

/* The containers reprs._bounded is rendering, innermost first (to show recursion as [...]) */
typedef struct Active {
    PyObject *obj;
    struct Active *up;
} Active;

static PyObject *repr_core(PyObject *obj, Py_ssize_t limit);
static PyObject *bounded(PyObject *obj, Py_ssize_t budget, Active *active);

/* reprs._element: one item of a container being rendered within `budget` characters */
static PyObject *
element(PyObject *obj, Py_ssize_t budget, Active *active)
{
    budget = Py_MAX(budget, 1);
    if (is_container(Py_TYPE(obj))) {
        int flat = short_and_flat(obj, budget);
        if (flat < 0) {
            return NULL;
        }
        return flat ? PyObject_Repr(obj) : bounded(obj, budget, active);
    }
    return repr_core(obj, budget);
}

/* Append text to parts; returns its length, or -1 */
static Py_ssize_t
put(PyObject *parts, PyObject *text)
{
    if (text == NULL) {
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int rc = PyList_Append(parts, text);
    Py_DECREF(text);
    return rc < 0 ? -1 : n;
}

/* The next item of a container being rendered (a new reference), NULL at its end or on error.
   A dict or set that changes size meanwhile is an error, as for Python's own iterators. */
static PyObject *
next_item(PyObject *obj, PyObject *it, Py_ssize_t *pos, Py_ssize_t size, PyObject **value)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyList_Type) {
        return *pos < PyList_GET_SIZE(obj) ? Py_NewRef(PyList_GET_ITEM(obj, (*pos)++)) : NULL;
    }
    if (t == &PyTuple_Type) {
        return *pos < PyTuple_GET_SIZE(obj) ? Py_NewRef(PyTuple_GET_ITEM(obj, (*pos)++)) : NULL;
    }
    if (t == &PyDict_Type) {
        PyObject *k, *v;
        if (PyDict_GET_SIZE(obj) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            return NULL;
        }
        if (!PyDict_Next(obj, pos, &k, &v)) {
            return NULL;
        }
        *value = Py_NewRef(v);
        return Py_NewRef(k);
    }
    return PyIter_Next(it);
}

/* reprs._bounded: the first `budget`-odd characters of a builtin container's repr */
static PyObject *
bounded(PyObject *obj, Py_ssize_t budget, Active *active)
{
    PyTypeObject *t = Py_TYPE(obj);
    for (Active *a = active; a != NULL; a = a->up) {
        if (a->obj == obj) {
            return PyUnicode_FromString(t == &PyList_Type ? "[...]" : t == &PyTuple_Type ? "(...)" : "{...}");
        }
    }
    Active me = {obj, active};
    const char *open = "{", *close = "}";
    if (t == &PyList_Type) {
        open = "[", close = "]";
    }
    else if (t == &PyTuple_Type) {
        open = "(", close = ")";
    }
    else if (t == &PyFrozenSet_Type) {
        open = "frozenset({", close = "})";
    }
    if (Py_EnterRecursiveCall(" while getting the repr of an object")) {
        return NULL;
    }
    PyObject *parts = PyList_New(0), *it = NULL, *result = NULL;
    Py_ssize_t used = 0, pos = 0, size = PyObject_Size(obj), i = 0;
    int broke = 0;
    if (parts == NULL || (used = put(parts, PyUnicode_FromString(open))) < 0) {
        goto done;
    }
    if ((t == &PySet_Type || t == &PyFrozenSet_Type) && (it = PyObject_GetIter(obj)) == NULL) {
        goto done;
    }
    for (;; i++) {
        PyObject *value = NULL, *item = next_item(obj, it, &pos, size, &value);
        if (item == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            break;
        }
        if (used > budget) {
            Py_DECREF(item);
            Py_XDECREF(value);
            broke = 1;
            break;
        }
        Py_ssize_t n = 0;
        if (i > 0) {
            n = put(parts, PyUnicode_FromString(", "));
            used += 2;
        }
        if (n >= 0 && value != NULL) { /* a dict's "key: value" */
            PyObject *key = element(item, budget - used, &me);
            PyObject *text = key == NULL ? NULL : PyUnicode_FromFormat("%U: ", key);
            Py_XDECREF(key);
            n = put(parts, text);
            if (n >= 0) {
                Py_ssize_t m = put(parts, element(value, budget - used - n, &me));
                n = m < 0 ? -1 : n + m;
            }
        }
        else if (n >= 0) {
            n = put(parts, element(item, budget - used, &me));
        }
        Py_DECREF(item);
        Py_XDECREF(value);
        if (n < 0) {
            goto done;
        }
        used += n;
    }
    if (!broke) {
        if (t == &PyTuple_Type && size == 1 && put(parts, PyUnicode_FromString(",")) < 0) {
            goto done;
        }
        if (put(parts, PyUnicode_FromString(close)) < 0) {
            goto done;
        }
    }
    result = PyUnicode_Join(g_empty, parts);
done:
    Py_LeaveRecursiveCall();
    Py_XDECREF(parts);
    Py_XDECREF(it);
    return result;
}

/* reprs._repr: the repr, rendered only as far as `limit` needs for long containers */
static PyObject *
repr_core(PyObject *obj, Py_ssize_t limit)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyUnicode_Type) {
        return head_repr(obj, PyUnicode_GET_LENGTH(obj), limit);
    }
    if (t == &PyBytes_Type) {
        return head_repr(obj, PyBytes_GET_SIZE(obj), limit);
    }
    if (t == &PyByteArray_Type) {
        return head_repr(obj, PyByteArray_GET_SIZE(obj), limit);
    }
    if (!is_container(t)) {
        return PyObject_Repr(obj);
    }
    int flat = short_and_flat(obj, limit);
    if (flat != 0) {
        return flat > 0 ? PyObject_Repr(obj) : NULL; /* the C repr is fast and bounded */
    }
    if (PyObject_Size(obj) > limit / 3) {
        PyObject *head = flat_head(obj, limit / 3 + 1);
        if (head != NULL || PyErr_Occurred()) {
            return head;
        }
    }
    return bounded(obj, limit, NULL);
}

PyObject *
value_repr(PyObject *obj, Py_ssize_t limit)
{
    PyObject *text = repr_core(obj, limit);
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
