/* The frame records of one open scope (recorder.Scope's _add, line, exception, ret, _value). */
#include "ctrace.h"

/* The text of line `lineno` of the scope's file, "" outside it (borrowed). */
static PyObject *
line_text(Scope *s, int lineno)
{
    if (lineno >= 1 && lineno <= PyList_GET_SIZE(s->lines)) {
        return PyList_GET_ITEM(s->lines, lineno - 1);
    }
    return g_empty;
}

/* The int of a line number: those of most files are kept (most past 256, where
   CPython's own small ints end). */
#define LINE_NUMBERS 4096

static PyObject *line_numbers[LINE_NUMBERS];

static PyObject *
line_number(int lineno)
{
    if (lineno >= LINE_NUMBERS) {
        return PyLong_FromLong(lineno);
    }
    if (line_numbers[lineno] == NULL) {
        line_numbers[lineno] = PyLong_FromLong(lineno);
    }
    return Py_XNewRef(line_numbers[lineno]);
}

/* KIND(line=text, lineno=..., locals|value=third), appended to the trace. */
static int
append(Recorder *r, Scope *s, int kind, PyObject *text, int lineno, PyObject *third)
{
    PyObject *number = s->in_source && lineno >= 0 ? line_number(lineno) : Py_NewRef(Py_None);
    if (number == NULL) {
        return -1;
    }
    PyObject *args[4] = {NULL, text, number, third};
    PyObject *kwnames = kind == K_CALL || kind == K_LINE ? g_kw_locals : g_kw_value;
    PyObject *record = PyObject_Vectorcall(
        g_kinds[kind], args + 1, 0 | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
    Py_DECREF(number);
    if (record == NULL) {
        return -1;
    }
    int rc = PyList_Append(r->frames, record);
    Py_DECREF(record);
    return rc;
}

/* A call or line frame: the line and the locals as they are before it runs. */
int
scope_add(Recorder *r, Scope *s, int kind, int lineno)
{
    PyObject *text = line_text(s, lineno);
    PyObject *locals = snapshot(r, s);
    if (locals == NULL) {
        return -1;
    }
    int rc = append(r, s, kind, text, lineno, locals);
    Py_DECREF(locals);
    if (rc < 0) {
        return -1;
    }
    r->size += PyUnicode_GET_LENGTH(text) + s->total;
    Py_ssize_t n = PyList_GET_SIZE(r->frames);
    if (n >= r->max_steps || r->size > r->max_bytes || !(n & 127)) {
        return rec_check(r);
    }
    return 0;
}

int
scope_line(Recorder *r, Scope *s, int lineno)
{
    return r->done ? 0 : scope_add(r, s, K_LINE, lineno);
}

/* A return or exception frame: the line and a value's repr. */
static int
add_value(Recorder *r, Scope *s, int kind, PyObject *value)
{
    int lineno = PyFrame_GetLineNumber((PyFrameObject *)s->frame);
    PyObject *text = line_text(s, lineno);
    PyObject *repr = value_repr(value, r->max_repr);
    if (repr == NULL) {
        return -1;
    }
    int rc = append(r, s, kind, text, lineno, repr);
    r->size += PyUnicode_GET_LENGTH(text) + PyUnicode_GET_LENGTH(repr);
    Py_DECREF(repr);
    if (rc < 0) {
        return -1;
    }
    return r->done ? 0 : rec_check(r);
}

int
scope_exception(Recorder *r, Scope *s, PyObject *exc)
{
    Py_XSETREF(s->last_exc, Py_NewRef(exc));
    return r->done ? 0 : add_value(r, s, K_EXCEPTION, exc);
}

/* The activation exits: returns or yields `value`, or is `unwound` by an exception (value None). */
int
scope_ret(Recorder *r, Scope *s, PyObject *value, int unwound)
{
    if (r->done) {
        return 0;
    }
    if (s->entry) {
        r->done = 1; /* first: the entry's return frame is never over a limit */
    }
    if (add_value(r, s, K_RETURN, value) < 0) {
        return -1;
    }
    if (s->entry && r->on_exit != Py_None) {
        PyObject *exc = unwound && s->last_exc != NULL ? s->last_exc : Py_None;
        PyObject *res = PyObject_CallFunctionObjArgs(r->on_exit, value, exc, NULL);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
    }
    return 0;
}

void
scope_clear(Scope *s)
{
    Py_CLEAR(s->frame);
    Py_CLEAR(s->lines);
    Py_CLEAR(s->last_exc);
    Py_CLEAR(s->out);
    PyMem_Free(s->fast);
    s->fast = NULL;
    slots_clear(&s->prev);
    vars_clear(s);
}
