/* What the recorder decided about each code object, looked up by identity.

   A dict keyed by code objects would hash them by content (name, bytecode,
   constants...) at every call event; this open-addressing table hashes the
   pointer. It holds a reference to each code object, so an address is never
   reused while it is in the table. */
#include "ctrace.h"

void
codes_clear(Codes *t)
{
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        CodeEntry *e = &t->entries[i];
        if (e->code != NULL) {
            Py_DECREF(e->code);
            Py_XDECREF(e->lines);
        }
    }
    PyMem_Free(t->entries);
    t->entries = NULL;
    t->cap = t->used = 0;
}

static size_t
slot_of(PyObject *code, Py_ssize_t cap)
{
    size_t h = (size_t)code >> 4; /* objects are 16-byte aligned */
    h ^= h >> 16;
    return (h * 0x9E3779B97F4A7C15ull) & (size_t)(cap - 1);
}

static int
grow(Codes *t)
{
    Py_ssize_t cap = t->cap ? 2 * t->cap : 16;
    CodeEntry *entries = PyMem_Calloc(cap, sizeof(CodeEntry));
    if (entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        CodeEntry *e = &t->entries[i];
        if (e->code != NULL) {
            size_t j = slot_of(e->code, cap);
            while (entries[j].code != NULL) {
                j = (j + 1) & (size_t)(cap - 1);
            }
            entries[j] = *e;
        }
    }
    PyMem_Free(t->entries);
    t->entries = entries;
    t->cap = cap;
    return 0;
}

/* The entry of `code`, added (wanted = -1, info = NULL: not decided yet) if new. */
CodeEntry *
codes_get(Codes *t, PyObject *code)
{
    if (2 * (t->used + 1) > t->cap && grow(t) < 0) {
        return NULL;
    }
    size_t j = slot_of(code, t->cap);
    while (t->entries[j].code != NULL) {
        if (t->entries[j].code == code) {
            return &t->entries[j];
        }
        j = (j + 1) & (size_t)(t->cap - 1);
    }
    CodeEntry *e = &t->entries[j];
    e->code = Py_NewRef(code);
    e->wanted = -1;
    e->instrumented = 0;
    e->lines = NULL;
    t->used++;
    return e;
}
