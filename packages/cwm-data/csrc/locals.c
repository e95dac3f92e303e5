/* The locals of a recorded frame: what frame.f_locals gives the Python recorder.

   On 3.11 and 3.12, f_locals is a dict that PyFrame_FastToLocals refreshes by
   setting (or deleting) every fast local in it, and its order is the order in
   which they were first set. That costs a dict store per local per event,
   although most frames change one local or none. Here the first event of a
   scope refreshes it in full and later events store only the locals whose
   value changed since, which leaves the dict exactly as a full refresh would,
   as long as nothing else touched it meanwhile: its version tag (PEP 509)
   says so, and when it moved (locals(), frame.f_locals elsewhere) the full
   refresh runs again. Class bodies, bound hidden comprehension variables
   (3.12) and Python 3.13+, where f_locals is a proxy, take the public API.
   The frame's f_locals is the same dict either way, so code that reads it
   (locals(), a debugger) sees what it would see under the Python recorder. */
#include "ctrace.h"

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
#include <internal/pycore_frame.h>

#define FAST_HIDDEN 0x10 /* CO_FAST_HIDDEN (3.12): an inlined comprehension's variable */
#define FAST_CELL 0x40   /* CO_FAST_CELL */
#define FAST_FREE 0x80   /* CO_FAST_FREE */

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* ma_version_tag on 3.12 */
#endif

static uint64_t
version(PyObject *dict)
{
    return ((PyDictObject *)dict)->ma_version_tag;
}

/* Fast local i as FastToLocals sees it at a trace event (after RESUME, so every
   MAKE_CELL and COPY_FREE_VARS has run): a cell's content; NULL when unbound. */
static PyObject *
fast_value(_PyInterpreterFrame *f, int kind, int i)
{
    PyObject *value = f->localsplus[i];
    if (value != NULL && f->stacktop && (kind & (FAST_CELL | FAST_FREE)) && PyCell_Check(value)) {
        value = PyCell_GET(value);
    }
    return value;
}

/* A full refresh, as PyFrame_GetLocals does it: through the public API for a class
   body or a bound hidden variable (3.12: f_locals is then a copy with it added). */
static PyObject *
public_refresh(Scope *s)
{
    PyMem_Free(s->fast);
    s->fast = NULL; /* no shortcut next time either */
    return PyFrame_GetLocals((PyFrameObject *)s->frame);
}

/* A full refresh of an optimized frame: FastToLocals' stores and deletions (without
   the KeyError it raises and clears for each unbound local that the dict lacks),
   remembering what it stored. */
static PyObject *
refresh(Scope *s, _PyInterpreterFrame *f)
{
    PyCodeObject *co = f->f_code;
    const char *kinds = PyBytes_AS_STRING(co->co_localspluskinds);
    PyObject *const *names = &PyTuple_GET_ITEM(co->co_localsplusnames, 0);
    if (!(co->co_flags & CO_OPTIMIZED)) {
        return public_refresh(s);
    }
    for (int i = 0; i < co->co_nlocalsplus; i++) {
        if ((kinds[i] & FAST_HIDDEN) && fast_value(f, kinds[i], i) != NULL) {
            return public_refresh(s);
        }
    }
    if (s->fast == NULL && (s->fast = PyMem_Calloc(co->co_nlocalsplus, sizeof(PyObject *))) == NULL) {
        return PyErr_NoMemory();
    }
    if (f->f_locals == NULL && (f->f_locals = PyDict_New()) == NULL) {
        return NULL;
    }
    PyObject *dict = f->f_locals;
    for (int i = 0; i < co->co_nlocalsplus; i++) {
        PyObject *value = fast_value(f, kinds[i], i);
        s->fast[i] = value; /* borrowed: the dict holds each one */
        if (kinds[i] & FAST_HIDDEN) {
            continue;
        }
        if (value != NULL) {
            if (PyDict_SetItem(dict, names[i], value) < 0) {
                return NULL;
            }
            continue;
        }
        int present = PyDict_Contains(dict, names[i]);
        if (present < 0 || (present && PyDict_DelItem(dict, names[i]) < 0)) {
            return NULL;
        }
    }
    ((PyFrameObject *)s->frame)->f_fast_as_locals = 1; /* as PyFrame_FastToLocalsWithError */
    s->version = version(dict);
    return Py_NewRef(dict);
}

PyObject *
frame_locals(Scope *s)
{
    _PyInterpreterFrame *f = ((PyFrameObject *)s->frame)->f_frame;
    PyCodeObject *co = f->f_code;
    PyObject *dict = f->f_locals;
    if (s->fast == NULL || dict == NULL || version(dict) != s->version) {
        return refresh(s, f);
    }
    const char *kinds = PyBytes_AS_STRING(co->co_localspluskinds);
    PyObject *const *names = &PyTuple_GET_ITEM(co->co_localsplusnames, 0);
    for (int i = 0; i < co->co_nlocalsplus; i++) {
        PyObject *value = fast_value(f, kinds[i], i);
        if (value == s->fast[i]) {
            continue;
        }
        if (kinds[i] & FAST_HIDDEN) {
            return refresh(s, f); /* bound: f_locals is then a copy with it added */
        }
        /* what FastToLocals does, for this one local */
        if (value != NULL ? PyDict_SetItem(dict, names[i], value) < 0
                          : PyDict_DelItem(dict, names[i]) < 0) {
            return NULL;
        }
        s->fast[i] = value;
    }
    s->version = version(dict);
    return Py_NewRef(dict);
}

/* ---- the snapshot of a function's frame by fast local index ----

   snapshot.c reads the locals in f_locals order and matches each to the previous
   frame's by name. For a function that is more than needed: after the first
   event, f_locals changes only by the stores made here, one per local that
   changed, so the record's dict is the previous one with the same stores
   applied (in the same order, which keeps the same key order), and the texts
   can be kept by fast local index (Scope.vars). When nothing changed, the
   record shares the previous frame's dict. Whenever that does not hold (a
   class body, f_locals touched by someone else, a bound hidden variable), this
   returns NULL with no error and snapshot.c's path takes over for the scope. */

enum { KEEP, SET, DEL };

/* Whether a slot's text may change while the same object is bound: a container, an
   object with its own __repr__, or one whose type may change (slot_update). */
static int
is_volatile(const Slot *slot)
{
    return slot->text != NULL && (slot->obj == NULL || slot->type != NULL);
}

/* The first snapshot: f_locals refreshed in full, the record's dict in its order. */
static PyObject *
first_snapshot(Recorder *r, Scope *s, _PyInterpreterFrame *f)
{
    PyCodeObject *co = f->f_code;
    PyObject *const *names = &PyTuple_GET_ITEM(co->co_localsplusnames, 0);
    int n = co->co_nlocalsplus;
    PyObject *dict = refresh(s, f), *out = NULL;
    if (dict == NULL || s->fast == NULL) { /* error, or the public API's copy */
        Py_XDECREF(dict);
        return NULL;
    }
    s->vars = PyMem_Calloc(n, sizeof(Slot) + 1); /* and an op per local (fast_snapshot) */
    if (s->vars == NULL) {
        Py_DECREF(dict);
        return PyErr_NoMemory();
    }
    s->nvars = n;
    out = PyDict_New();
    Py_ssize_t pos = 0, total = 0;
    int j = 0;
    PyObject *name, *value;
    while (out != NULL && PyDict_Next(dict, &pos, &name, &value)) {
        int k = 0;
        while (k < n && names[(j + k) % n] != name) {
            k++;
        }
        if (k == n) { /* a key that is no fast local: someone stored it */
            Py_CLEAR(out);
            break;
        }
        j = (j + k) % n;
        Slot *slot = &s->vars[j++];
        if (s->hide && hidden(name)) {
            continue;
        }
        /* a repr may run any code: hold what the dict lends us */
        Py_INCREF(name);
        Py_INCREF(value);
        int changed;
        if (slot_update(r, slot, value, &changed) < 0 || PyDict_SetItem(out, name, slot->text) < 0) {
            Py_CLEAR(out);
        }
        else {
            total += PyUnicode_GET_LENGTH(slot->text);
            s->nvolatile += is_volatile(slot);
        }
        Py_DECREF(name);
        Py_DECREF(value);
    }
    Py_DECREF(dict);
    if (out == NULL) {
        return NULL; /* with an error, or without one for snapshot.c */
    }
    s->total = total;
    Py_XSETREF(s->out, Py_NewRef(out));
    return out;
}

PyObject *
fast_snapshot(Recorder *r, Scope *s)
{
    _PyInterpreterFrame *f = ((PyFrameObject *)s->frame)->f_frame;
    PyCodeObject *co = f->f_code;
    if (!(co->co_flags & CO_OPTIMIZED)) {
        return NULL;
    }
    if (s->vars == NULL) {
        return first_snapshot(r, s, f);
    }
    PyObject *dict = f->f_locals;
    if (s->fast == NULL || dict == NULL || version(dict) != s->version || s->out == NULL) {
        return NULL; /* f_locals was touched meanwhile: locals(), frame.f_locals */
    }
    const char *kinds = PyBytes_AS_STRING(co->co_localspluskinds);
    PyObject *const *names = &PyTuple_GET_ITEM(co->co_localsplusnames, 0);
    int n = s->nvars;
    unsigned char *ops = (unsigned char *)(s->vars + n);
    /* f_locals first, as FastToLocals would update it */
    int rebound = 0;
    for (int i = 0; i < n; i++) {
        PyObject *value = fast_value(f, kinds[i], i);
        if (value == s->fast[i]) {
            continue;
        }
        rebound = 1;
        if (kinds[i] & FAST_HIDDEN) {
            return NULL; /* bound: f_locals is then a copy with it added */
        }
        if (value != NULL ? PyDict_SetItem(dict, names[i], value) < 0
                          : PyDict_DelItem(dict, names[i]) < 0) {
            return NULL;
        }
        s->fast[i] = value;
    }
    s->version = version(dict);
    if (!rebound && s->nvolatile == 0) {
        return Py_NewRef(s->out); /* the same objects, each with the same text */
    }
    /* then the texts, in the same order */
    int any = 0;
    for (int i = 0; i < n; i++) {
        Slot *slot = &s->vars[i];
        PyObject *value = s->fast[i];
        ops[i] = KEEP;
        if (slot_keeps(slot, value)) {
            continue;
        }
        if (kinds[i] & FAST_HIDDEN) {
            continue;
        }
        if (value == NULL) {
            if (slot->text != NULL) {
                s->total -= PyUnicode_GET_LENGTH(slot->text);
                s->nvolatile -= is_volatile(slot);
                slot_clear(slot);
                ops[i] = DEL;
                any = 1;
            }
            continue;
        }
        if (slot->text == NULL && s->hide && hidden(names[i])) {
            continue;
        }
        if (version(dict) != s->version) {
            return NULL; /* a repr refreshed f_locals: what fast holds may be gone */
        }
        Py_ssize_t before = slot->text != NULL ? PyUnicode_GET_LENGTH(slot->text) : 0;
        int changed, was_volatile = is_volatile(slot);
        Py_INCREF(value);
        int rc = slot_update(r, slot, value, &changed);
        Py_DECREF(value);
        if (rc < 0) {
            return NULL;
        }
        s->nvolatile += is_volatile(slot) - was_volatile;
        if (changed) {
            s->total += PyUnicode_GET_LENGTH(slot->text) - before;
            ops[i] = SET;
            any = 1;
        }
    }
    if (!any) {
        return Py_NewRef(s->out); /* nothing changed: frames share one (read-only) dict */
    }
    PyObject *out = PyDict_Copy(s->out);
    for (int i = 0; out != NULL && i < n; i++) {
        if (ops[i] == SET ? PyDict_SetItem(out, names[i], s->vars[i].text) < 0
            : ops[i] == DEL ? PyDict_DelItem(out, names[i]) < 0 : 0) {
            Py_CLEAR(out);
        }
    }
    if (out != NULL) {
        Py_SETREF(s->out, Py_NewRef(out));
    }
    return out;
}

#else /* 3.13+: f_locals is a proxy; a dict of it has the same items in the same order */

PyObject *
frame_locals(Scope *s)
{
    PyObject *locals = PyFrame_GetLocals((PyFrameObject *)s->frame);
    if (locals != NULL && !PyDict_Check(locals)) {
        PyObject *copy = PyDict_New();
        if (copy != NULL && PyDict_Update(copy, locals) < 0) {
            Py_CLEAR(copy);
        }
        Py_DECREF(locals);
        return copy;
    }
    return locals;
}

PyObject *
fast_snapshot(Recorder *r, Scope *s)
{
    return NULL; /* snapshot.c's path reads the proxy */
}

#endif

void
vars_clear(Scope *s)
{
    for (int i = 0; s->vars != NULL && i < s->nvars; i++) {
        slot_clear(&s->vars[i]);
    }
    PyMem_Free(s->vars);
    s->vars = NULL;
    s->nvars = s->nvolatile = 0;
}
