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

#endif
