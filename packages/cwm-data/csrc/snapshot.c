/* A scope's locals as repr text (recorder.Scope._snapshot), reusing the previous frame's text.

   A local still bound to the same atomic object keeps its text; an object with
   object.__repr__ ("<m.C object at 0x...>", fixed by type and address) keeps it
   while it is the same object of the same type, and is looked up by type and
   address in a cache shared by the trace's scopes; a builtin container that still has its shape (shape.c:
   the same objects all the way down, by identity) keeps its text. Everything
   else is repr'd again, since it may have changed in place. */
#include "ctrace.h"

void
slot_clear(Slot *slot)
{
    Py_CLEAR(slot->name);
    Py_CLEAR(slot->text);
    Py_CLEAR(slot->obj);
    Py_CLEAR(slot->type);
    shape_free(slot->shape);
    slot->shape = NULL;
}

void
slots_clear(Slots *slots)
{
    for (Py_ssize_t i = 0; i < slots->n; i++) {
        slot_clear(&slots->slots[i]);
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
int
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

static int
push(Slots *slots, PyObject *name, PyObject *text, PyObject *obj, PyObject *type, Shape *shape)
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
    s->type = Py_XNewRef(type);
    s->shape = shape;
    return 0;
}

/* The text of one local, and (through obj/type/shape) what the next frame may reuse. */
static PyObject *
text_of(Recorder *r, Slot *old, PyObject *value, PyObject **obj, PyObject **type, Shape **shape)
{
    PyTypeObject *t = Py_TYPE(value);
    if (is_atomic(t)) {
        *obj = value;
        return local_repr(value, r->max_repr);
    }
    if (t->tp_repr == PyBaseObject_Type.tp_repr) {
        *obj = value; /* the same object of the same type: the same text */
        *type = (PyObject *)t;
        return default_repr(r, value);
    }
    if (shapeable(t)) {
        Shape *before = old != NULL ? old->shape : NULL;
        int same = before != NULL ? shape_unchanged(value, before) : 0;
        if (same < 0) {
            return NULL;
        }
        if (same) {
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

/* Bring `slot` (a local's text in the previous frame, if it has one) up to date for
   `value`; *changed says whether its text is another string now. 0, or -1 on error. */
int
slot_update(Recorder *r, Slot *slot, PyObject *value, int *changed)
{
    Slot *old = slot->text != NULL ? slot : NULL;
    if (slot_keeps(slot, value)) {
        *changed = 0;
        return 0;
    }
    PyObject *obj = NULL, *type = NULL;
    Shape *shape = NULL;
    PyObject *text = text_of(r, old, value, &obj, &type, &shape);
    if (text == NULL) {
        return -1;
    }
    *changed = text != slot->text;
    Py_XSETREF(slot->text, text);
    Py_XSETREF(slot->obj, Py_XNewRef(obj));
    Py_XSETREF(slot->type, Py_XNewRef(type));
    if (slot->shape != shape) { /* text_of moves a shape it reuses out of `old` */
        shape_free(slot->shape);
        slot->shape = shape;
    }
    return 0;
}

/* The locals dict of the frame record. Usually the names are those of the previous
   frame in the same order, and a copy of its dict with the changed texts replaced
   is cheaper than a new dict; when no text changed, it is the previous dict. */
static PyObject *
locals_dict(Scope *s, Slots *next, int same_names)
{
    PyObject *out;
    if (same_names && s->out != NULL) {
        Py_ssize_t same = 0;
        while (same < next->n && next->slots[same].text == s->prev.slots[same].text) {
            same++;
        }
        if (same == next->n) {
            return Py_NewRef(s->out); /* nothing changed: frames share one (read-only) dict */
        }
        out = PyDict_Copy(s->out);
        for (Py_ssize_t i = 0; out != NULL && i < next->n; i++) {
            Slot *slot = &next->slots[i];
            if (slot->text != s->prev.slots[i].text
                && PyDict_SetItem(out, slot->name, slot->text) < 0) {
                Py_CLEAR(out);
            }
        }
        return out;
    }
    out = _PyDict_NewPresized(next->n);
    for (Py_ssize_t i = 0; out != NULL && i < next->n; i++) {
        if (PyDict_SetItem(out, next->slots[i].name, next->slots[i].text) < 0) {
            Py_CLEAR(out);
        }
    }
    return out;
}

PyObject *
snapshot(Recorder *r, Scope *s)
{
    if (!s->generic) {
        PyObject *out = fast_snapshot(r, s);
        if (out != NULL || PyErr_Occurred()) {
            return out;
        }
        s->generic = 1; /* from now on: the snapshot reads f_locals, as recorder.py does */
        vars_clear(s);
        Py_CLEAR(s->out); /* s->prev is empty: every text is made again */
    }
    PyObject *locals = frame_locals(s);
    if (locals == NULL) {
        return NULL;
    }
    Slots next = {NULL, 0, 0};
    Py_ssize_t pos = 0, hint = 0, total = 0;
    int same_names = 1; /* every name at its previous position */
    PyObject *name, *value, *out;
    while (PyDict_Next(locals, &pos, &name, &value)) {
        /* a repr may run any code: hold what the dict lends us */
        Py_INCREF(name);
        Py_INCREF(value);
        Slot *old = find(&s->prev, name, hint);
        PyObject *obj = NULL, *type = NULL, *text = NULL;
        Shape *shape = NULL;
        if (old != NULL) {
            hint = old - s->prev.slots + 1;
        }
        if (old != NULL && slot_keeps(old, value)) {
            obj = value;
            type = old->type;
            text = Py_NewRef(old->text);
        }
        else if (s->hide && hidden(name)) {
            Py_DECREF(name);
            Py_DECREF(value);
            continue;
        }
        else {
            text = text_of(r, old, value, &obj, &type, &shape);
        }
        same_names = same_names && old != NULL && old == &s->prev.slots[next.n];
        int failed = text == NULL || push(&next, name, text, obj, type, shape) < 0;
        if (failed && text != NULL) {
            shape_free(shape); /* not pushed */
        }
        else if (!failed) {
            total += PyUnicode_GET_LENGTH(text);
        }
        Py_XDECREF(text);
        Py_DECREF(name);
        Py_DECREF(value);
        if (failed) {
            Py_DECREF(locals);
            slots_clear(&next);
            return NULL;
        }
    }
    Py_DECREF(locals);
    out = locals_dict(s, &next, same_names && next.n == s->prev.n);
    if (out == NULL) {
        slots_clear(&next);
        return NULL;
    }
    slots_clear(&s->prev);
    s->prev = next;
    s->total = total;
    Py_XSETREF(s->out, Py_NewRef(out));
    return out;
}
