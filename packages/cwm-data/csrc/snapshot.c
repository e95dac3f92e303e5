/* A scope's locals as repr text (recorder.Scope._snapshot), reusing the previous frame's text.

   A local still bound to the same atomic object keeps its text; an object with
   object.__repr__ ("<m.C object at 0x...>", fixed by type and address) is looked
   up by type and address; a list or dict that is the same object with the same
   length and the same immutable first items (compared by identity) keeps its
   text. Everything else is repr'd again, since it may have changed in place. */
#include "ctrace.h"

/* What _unchanged compares next time: the container, its length, its first items. */
struct Shape {
    PyObject *value;    /* strong: the list or dict */
    Py_ssize_t n;       /* its length, or -1 when longer than `count` */
    Py_ssize_t count;   /* entries kept (a dict's key and value are one entry) */
    PyObject *items[];  /* strong: the entries (a dict's keys and values interleaved) */
};

static void
shape_free(Shape *shape)
{
    if (shape == NULL) {
        return;
    }
    Py_ssize_t n = shape->count * (PyDict_Check(shape->value) ? 2 : 1);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(shape->items[i]);
    }
    Py_DECREF(shape->value);
    PyMem_Free(shape);
}

static int
stable_type(PyTypeObject *t)
{
    /* recorder._STABLE */
    return t == &PyLong_Type || t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyBool_Type
        || t == Py_TYPE(Py_None) || t == &PyFloat_Type || t == &PyComplex_Type;
}

/* recorder._stable: atoms, or tuples of atoms */
static int
stable(PyObject **items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTypeObject *t = Py_TYPE(items[i]);
        if (stable_type(t)) {
            continue;
        }
        if (t != &PyTuple_Type) {
            return 0;
        }
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(items[i]); j++) {
            if (!stable_type(Py_TYPE(PyTuple_GET_ITEM(items[i], j)))) {
                return 0;
            }
        }
    }
    return 1;
}

/* recorder._shape: NULL (with no error) when the first items are not all immutable. */
static Shape *
shape_of(PyObject *value, Py_ssize_t head)
{
    int is_dict = PyDict_Check(value);
    Py_ssize_t len = is_dict ? PyDict_GET_SIZE(value) : PyList_GET_SIZE(value);
    Py_ssize_t count = Py_MIN(len, head);
    Py_ssize_t n_items = is_dict ? 2 * count : count;
    Shape *shape = PyMem_Malloc(sizeof(Shape) + n_items * sizeof(PyObject *));
    if (shape == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (is_dict) {
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *v;
        while (i < n_items && PyDict_Next(value, &pos, &k, &v)) {
            shape->items[i++] = k;
            shape->items[i++] = v;
        }
    }
    else {
        for (Py_ssize_t i = 0; i < count; i++) {
            shape->items[i] = PyList_GET_ITEM(value, i);
        }
    }
    if (!stable(shape->items, n_items)) {
        PyMem_Free(shape);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n_items; i++) {
        Py_INCREF(shape->items[i]);
    }
    shape->value = Py_NewRef(value);
    shape->n = len <= head ? len : -1;
    shape->count = count;
    return shape;
}

/* recorder._unchanged: the same length (or still too long to show whole), the same first items */
static int
unchanged(PyObject *value, Shape *shape)
{
    int is_dict = PyDict_Check(value);
    Py_ssize_t len = is_dict ? PyDict_GET_SIZE(value) : PyList_GET_SIZE(value);
    if (shape->n >= 0 ? len != shape->n : len <= shape->count) {
        return 0; /* a new length, or a long container that became short enough to show whole */
    }
    if (is_dict) {
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *v;
        while (i < 2 * shape->count && PyDict_Next(value, &pos, &k, &v)) {
            if (k != shape->items[i] || v != shape->items[i + 1]) {
                return 0;
            }
            i += 2;
        }
        return 1;
    }
    for (Py_ssize_t i = 0; i < shape->count; i++) {
        if (PyList_GET_ITEM(value, i) != shape->items[i]) {
            return 0;
        }
    }
    return 1;
}

void
slots_clear(Slots *slots)
{
    for (Py_ssize_t i = 0; i < slots->n; i++) {
        Slot *s = &slots->slots[i];
        Py_DECREF(s->name);
        Py_DECREF(s->text);
        Py_XDECREF(s->obj);
        shape_free(s->shape);
    }
    PyMem_Free(slots->slots);
    slots->slots = NULL;
    slots->n = slots->cap = 0;
}

/* The previous frame's slot of `name`: usually at the same position, else searched. */
static Slot *
find(Slots *prev, PyObject *name, Py_ssize_t hint)
{
    if (hint < prev->n && prev->slots[hint].name == name) {
        return &prev->slots[hint];
    }
    for (Py_ssize_t i = 0; i < prev->n; i++) {
        if (prev->slots[i].name == name) {
            return &prev->slots[i];
        }
    }
    /* names are interned in functions; a class body's namespace may hold equal copies */
    if (PyUnicode_CheckExact(name)) {
        for (Py_ssize_t i = 0; i < prev->n; i++) {
            PyObject *other = prev->slots[i].name;
            if (PyUnicode_CheckExact(other) && PyUnicode_Compare(other, name) == 0) {
                return &prev->slots[i];
            }
        }
    }
    return NULL;
}

/* ".0" (a comprehension's iterator) and dunder names (__module__, __qualname__ of a class body) */
static int
hidden(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(name);
    if (n == 0) {
        return 0;
    }
    if (PyUnicode_READ_CHAR(name, 0) == '.') {
        return 1;
    }
    return n >= 2 && PyUnicode_READ_CHAR(name, 0) == '_' && PyUnicode_READ_CHAR(name, 1) == '_'
        && PyUnicode_READ_CHAR(name, n - 2) == '_' && PyUnicode_READ_CHAR(name, n - 1) == '_';
}

/* The text of an object with the default repr, cached by (type, address) like the Python recorder. */
static PyObject *
default_repr(Recorder *r, PyObject *value)
{
    PyObject *id = PyLong_FromVoidPtr(value);
    if (id == NULL) {
        return NULL;
    }
    PyObject *key = PyTuple_Pack(2, (PyObject *)Py_TYPE(value), id);
    Py_DECREF(id);
    if (key == NULL) {
        return NULL;
    }
    PyObject *text = PyDict_GetItemWithError(r->default_reprs, key);
    if (text != NULL) {
        Py_INCREF(text);
    }
    else if (!PyErr_Occurred()) {
        text = local_repr(value, r->max_repr);
        if (text != NULL && PyDict_SetItem(r->default_reprs, key, text) < 0) {
            Py_CLEAR(text);
        }
    }
    Py_DECREF(key);
    return text;
}

/* The frame's locals: a dict (3.13's f_locals is a proxy; a dict of it has the same items in order). */
static PyObject *
frame_locals(PyObject *frame)
{
    PyObject *locals = PyFrame_GetLocals((PyFrameObject *)frame);
#if PY_VERSION_HEX >= 0x030D0000
    if (locals != NULL && !PyDict_Check(locals)) {
        PyObject *copy = PyDict_New();
        if (copy != NULL && PyDict_Update(copy, locals) < 0) {
            Py_CLEAR(copy);
        }
        Py_DECREF(locals);
        return copy;
    }
#endif
    return locals;
}

static int
push(Slots *slots, PyObject *name, PyObject *text, PyObject *obj, Shape *shape)
{
    if (slots->n == slots->cap) {
        Py_ssize_t cap = slots->cap ? 2 * slots->cap : 8;
        Slot *grown = PyMem_Realloc(slots->slots, cap * sizeof(Slot));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        slots->slots = grown;
        slots->cap = cap;
    }
    Slot *s = &slots->slots[slots->n++];
    s->name = Py_NewRef(name);
    s->text = Py_NewRef(text);
    s->obj = Py_XNewRef(obj);
    s->shape = shape;
    return 0;
}

/* The text of one local, and (through obj/shape) what the next frame may reuse. */
static PyObject *
text_of(Recorder *r, Scope *s, Slot *old, PyObject *value, PyObject **obj, Shape **shape)
{
    PyTypeObject *t = Py_TYPE(value);
    if (is_atomic(t)) {
        *obj = value;
        return local_repr(value, r->max_repr);
    }
    if (t->tp_repr == PyBaseObject_Type.tp_repr) {
        return default_repr(r, value);
    }
    if (t == &PyList_Type || t == &PyDict_Type) {
        Shape *before = old != NULL ? old->shape : NULL;
        if (before != NULL && before->value == value && unchanged(value, before)) {
            old->shape = NULL; /* moves to the new slot */
            *shape = before;
            return Py_NewRef(old->text);
        }
        PyObject *text = local_repr(value, r->max_repr);
        if (text == NULL) {
            return NULL;
        }
        *shape = shape_of(value, r->head);
        if (*shape == NULL && PyErr_Occurred()) {
            Py_DECREF(text);
            return NULL;
        }
        return text;
    }
    return local_repr(value, r->max_repr);
}

PyObject *
snapshot(Recorder *r, Scope *s)
{
    PyObject *locals = frame_locals(s->frame);
    if (locals == NULL) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    Slots next = {NULL, 0, 0};
    Py_ssize_t pos = 0, hint = 0, total = 0;
    PyObject *name, *value;
    if (out == NULL) {
        goto error;
    }
    while (PyDict_Next(locals, &pos, &name, &value)) {
        /* a repr may run any code: hold what the dict lends us */
        Py_INCREF(name);
        Py_INCREF(value);
        Slot *old = find(&s->prev, name, hint);
        PyObject *obj = NULL, *text = NULL;
        Shape *shape = NULL;
        int failed = 0;
        if (old != NULL) {
            hint = old - s->prev.slots + 1;
        }
        if (old != NULL && old->obj == value) {
            obj = value;
            text = Py_NewRef(old->text);
        }
        else if (s->hide && hidden(name)) {
            Py_DECREF(name);
            Py_DECREF(value);
            continue;
        }
        else {
            text = text_of(r, s, old, value, &obj, &shape);
        }
        if (text == NULL || PyDict_SetItem(out, name, text) < 0
            || push(&next, name, text, obj, shape) < 0) {
            failed = 1;
            if (text != NULL) {
                shape_free(shape); /* not pushed */
            }
        }
        else {
            total += PyUnicode_GET_LENGTH(text);
        }
        Py_XDECREF(text);
        Py_DECREF(name);
        Py_DECREF(value);
        if (failed) {
            goto error;
        }
    }
    Py_DECREF(locals);
    slots_clear(&s->prev);
    s->prev = next;
    s->total = total;
    return out;

error:
    Py_DECREF(locals);
    Py_XDECREF(out);
    slots_clear(&next);
    return NULL;
}
