/* Bounded repr text: reprs.py's value_repr and local_repr in C, function for function
   (_repr, _short_and_flat, _flat_head, _bounded, _element), so that both give the
   same text for every value (the tests compare them on generated values). */
#include "ctrace.h"

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

/* reprs._short_and_flat for a list, tuple, set, frozenset or dict: 1, 0, or -1 on error;
   *numbers says whether it holds only numbers. */
static int
short_and_flat(PyObject *obj, Py_ssize_t limit, int *numbers)
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
        *numbers = keys.numbers && values.numbers;
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
        *numbers = keys.numbers;
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
    *numbers = keys.numbers;
    return flat_ok(&keys, limit);
}

/* The repr of a float. Its text is fixed by its value, and finding the shortest
   digits that round-trip costs thousands of instructions, so the texts of recent
   values are kept (a direct-mapped table: a value seen again, in a list rendered
   again or bound to another local, costs a lookup). */
#define FLOAT_TEXTS 1024

static struct {
    uint64_t bits;
    PyObject *text; /* strong, or NULL */
} float_texts[FLOAT_TEXTS];

static PyObject *
float_repr(PyObject *obj)
{
    double value = PyFloat_AS_DOUBLE(obj);
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    size_t i = (size_t)((bits * 0x9E3779B97F4A7C15ull) >> 54); /* the top 10 bits */
    if (float_texts[i].text != NULL && float_texts[i].bits == bits) {
        return Py_NewRef(float_texts[i].text);
    }
    PyObject *text = PyObject_Repr(obj);
    if (text != NULL) {
        Py_XSETREF(float_texts[i].text, Py_NewRef(text));
        float_texts[i].bits = bits;
    }
    return text;
}

/* The repr of an int: the texts of small values (those in loop counters and indexes)
   are kept. */
#define INT_TEXTS 1024

static PyObject *int_texts[INT_TEXTS];

static PyObject *
int_repr(PyObject *obj)
{
    int overflow;
    long value = PyLong_AsLongAndOverflow(obj, &overflow);
    if (overflow || value < 0 || value >= INT_TEXTS) {
        if (value == -1 && PyErr_Occurred()) {
            return NULL;
        }
        return PyObject_Repr(obj);
    }
    if (int_texts[value] == NULL) {
        int_texts[value] = PyObject_Repr(obj);
    }
    return Py_XNewRef(int_texts[value]);
}

static PyObject *
number_repr(PyObject *obj)
{
    PyTypeObject *t = Py_TYPE(obj);
    return t == &PyFloat_Type ? float_repr(obj) : t == &PyLong_Type ? int_repr(obj) : PyObject_Repr(obj);
}

static char *
copy_ascii(char *out, const char *text)
{
    size_t n = strlen(text);
    memcpy(out, text, n);
    return out + n;
}

/* repr() of a list, tuple, set, frozenset or dict of numbers (the same text), made
   from each number's text from number_repr: ASCII, written straight into the result. */
static PyObject *
numbers_repr(PyObject *obj)
{
    PyTypeObject *t = Py_TYPE(obj);
    int dict = t == &PyDict_Type;
    Py_ssize_t n = PyObject_Size(obj) * (dict ? 2 : 1), k = 0;
    if (n <= 0) {
        return n < 0 ? NULL : PyObject_Repr(obj); /* "[]", "set()", ... */
    }
    const char *open = "{", *close = "}";
    if (t == &PyList_Type) {
        open = "[", close = "]";
    }
    else if (t == &PyTuple_Type) {
        open = "(", close = n == 1 ? ",)" : ")";
    }
    else if (t == &PyFrozenSet_Type) {
        open = "frozenset({", close = "})";
    }
    PyObject *small[128], **texts = n <= 128 ? small : PyMem_Malloc(n * sizeof(PyObject *));
    PyObject *result = NULL, *it = NULL, *item, *key, *value;
    if (texts == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t size = strlen(open) + strlen(close) + 2 * (n - 1), pos = 0;
    if (dict) {
        while (k < n && PyDict_Next(obj, &pos, &key, &value)) {
            if ((texts[k++] = number_repr(key)) == NULL || (texts[k++] = number_repr(value)) == NULL) {
                goto done;
            }
        }
    }
    else if ((it = PyObject_GetIter(obj)) != NULL) {
        while (k < n && (item = PyIter_Next(it)) != NULL) {
            texts[k] = number_repr(item);
            Py_DECREF(item);
            if (texts[k++] == NULL) {
                goto done;
            }
        }
    }
    if (k < n || PyErr_Occurred()) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_IS_ASCII(texts[i])) { /* a number's repr is ASCII; if not, repr() */
            result = PyObject_Repr(obj);
            goto done;
        }
        size += PyUnicode_GET_LENGTH(texts[i]);
    }
    result = PyUnicode_New(size, 127);
    if (result != NULL) {
        char *out = (char *)PyUnicode_1BYTE_DATA(result);
        out = copy_ascii(out, open);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i > 0) {
                out = copy_ascii(out, dict && i % 2 ? ": " : ", ");
            }
            Py_ssize_t len = PyUnicode_GET_LENGTH(texts[i]);
            memcpy(out, PyUnicode_1BYTE_DATA(texts[i]), len);
            out += len;
        }
        copy_ascii(out, close);
    }
done:
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_XDECREF(texts[i]);
    }
    if (texts != small) {
        PyMem_Free(texts);
    }
    Py_XDECREF(it);
    return result;
}

/* The repr of a container that short_and_flat found flat. */
static PyObject *
flat_repr(PyObject *obj, int numbers)
{
    return numbers ? numbers_repr(obj) : PyObject_Repr(obj);
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

/* reprs._flat over an iterable (a set's items, a dict's values): 1, 0, -1 on error;
   *numbers is cleared unless they are all numbers. */
static int
flat_iterable(PyObject *items, Py_ssize_t limit, int *numbers)
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
    *numbers = *numbers && f.numbers;
    return PyErr_Occurred() ? -1 : flat_ok(&f, limit);
}

/* reprs._flat_head: the repr of the first k items of a long flat container, or NULL
   with no error set (None) when they are not flat. */
static PyObject *
flat_head(PyObject *obj, Py_ssize_t k)
{
    PyTypeObject *t = Py_TYPE(obj);
    PyObject *head = NULL, *text = NULL;
    int flat, numbers = 1;
    if (t == &PyList_Type || t == &PyTuple_Type) {
        head = PySequence_GetSlice(obj, 0, k);
        if (head == NULL) {
            return NULL;
        }
        flat = flat_iterable(head, k * 3, &numbers);
        text = flat > 0 ? flat_repr(head, numbers) : NULL;
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
        flat = values == NULL ? -1 : flat_iterable(head, k * 3, &numbers);
        if (flat > 0) {
            flat = flat_iterable(values, k * 3, &numbers);
        }
        Py_XDECREF(values);
        text = flat > 0 ? flat_repr(head, numbers) : NULL;
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
        flat = PyErr_Occurred() ? -1 : flat_iterable(head, k * 3, &numbers);
        if (flat > 0) {
            PyObject *inner = flat_repr(head, numbers); /* "[a, b]" -> "{a, b}" */
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
        int numbers = 0, flat = short_and_flat(obj, budget, &numbers);
        if (flat < 0) {
            return NULL;
        }
        return flat ? flat_repr(obj, numbers) : bounded(obj, budget, active);
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
    if (t == &PyFloat_Type || t == &PyLong_Type) {
        return number_repr(obj);
    }
    if (!is_container(t)) {
        return PyObject_Repr(obj);
    }
    int numbers = 0, flat = short_and_flat(obj, limit, &numbers);
    if (flat != 0) {
        return flat > 0 ? flat_repr(obj, numbers) : NULL; /* fast and bounded */
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
