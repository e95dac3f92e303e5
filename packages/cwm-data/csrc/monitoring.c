/* The sys.monitoring backend's callbacks in C (backends/monitoring.py, Python 3.12+).

   The Python side registers these methods of a Recorder as the callbacks of its
   tool id and switches the events on and off; here each event is mapped exactly
   as backends/monitoring.py maps it (which is how CPython maps them for
   sys.settrace): PY_START/PY_RESUME/PY_THROW open a scope, LINE and a backward
   JUMP within one line record a line, RAISE and STOP_ITERATION an exception,
   PY_RETURN and PY_YIELD close the scope with their value, PY_UNWIND with None.
   Callbacks run in the monitored frame's thread with no Python frame of their
   own, so PyEval_GetFrame() is the monitored frame. */
#include "ctrace.h"

#if PY_VERSION_HEX >= 0x030C0000

/* sys.monitoring passes each callback its fixed arguments; anyone else calling one gets a TypeError */
#define EXPECT_ARGS(n)                                                              \
    if (nargs != (n)) {                                                             \
        PyErr_Format(PyExc_TypeError, "%s takes %d arguments", __func__, (n));       \
        return NULL;                                                                \
    }

/* mon_watch(instrument): instrument(code) gives a code object in scope its local events. */
PyObject *
mon_watch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Recorder *r = (Recorder *)self;
    EXPECT_ARGS(1)
    Py_XSETREF(r->instrument, Py_NewRef(args[0]));
    Py_RETURN_NONE;
}

static PyObject *
open_scope(Recorder *r, PyObject *code, int fresh, int may_disable)
{
    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "a monitoring callback's first argument is a code object");
        return NULL;
    }
    if (PyThreadState_Get() != r->tstate) {
        Py_RETURN_NONE; /* sys.monitoring sees every thread; the trace is of this one */
    }
    PyFrameObject *frame = PyEval_GetFrame();
    int error;
    if (frame == NULL) {
        Py_RETURN_NONE;
    }
    Scope *s = rec_open(r, frame, code, fresh, &error);
    if (error) {
        return NULL;
    }
    if (s == NULL) {
        if (!may_disable || r->done) {
            Py_RETURN_NONE;
        }
        int may = rec_may_open(r, code);
        if (may < 0) {
            return NULL;
        }
        return Py_NewRef(may ? Py_None : g_disable); /* out of scope: no more events from it */
    }
    CodeEntry *e = codes_get(&r->codes, code);
    if (e == NULL) {
        return NULL;
    }
    if (!e->instrumented) {
        e->instrumented = 1;
        PyObject *res = PyObject_CallOneArg(r->instrument, code);
        if (res == NULL) {
            return NULL;
        }
        Py_DECREF(res);
    }
    Py_RETURN_NONE;
}

PyObject *
mon_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(2)
    return open_scope((Recorder *)self, args[0], 1, 1);
}

PyObject *
mon_resume(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(2)
    return open_scope((Recorder *)self, args[0], 0, 1);
}

PyObject *
mon_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(3)
    return open_scope((Recorder *)self, args[0], 0, 0); /* a global event: DISABLE is not allowed */
}

/* The scope of the monitored frame, if that frame is being recorded. */
static Scope *
top(Recorder *r)
{
    return rec_top(r, (PyObject *)PyEval_GetFrame());
}

static PyObject *
done(int rc)
{
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyObject *
mon_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(2)
    Recorder *r = (Recorder *)self;
    Scope *s = top(r);
    if (s == NULL) {
        Py_RETURN_NONE;
    }
    int line = PyLong_AsLong(args[1]);
    if (line == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return done(scope_line(r, s, line));
}

PyObject *
mon_jump(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Recorder *r = (Recorder *)self;
    EXPECT_ARGS(3)
    if (!PyCode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "a monitoring callback's first argument is a code object");
        return NULL;
    }
    PyCodeObject *code = (PyCodeObject *)args[0];
    long src = PyLong_AsLong(args[1]), dest = PyLong_AsLong(args[2]);
    if ((src == -1 || dest == -1) && PyErr_Occurred()) {
        return NULL;
    }
    /* sys.settrace reports a backward jump as a line event even within one line */
    if (dest > src) {
        return Py_NewRef(g_disable);
    }
    int to_line = PyCode_Addr2Line(code, (int)dest);
    if (to_line < 0 || to_line != PyCode_Addr2Line(code, (int)src)) {
        return Py_NewRef(g_disable); /* the target's LINE event reports it */
    }
    Scope *s = top(r);
    return s == NULL ? Py_NewRef(Py_None) : done(scope_line(r, s, to_line));
}

PyObject *
mon_raise(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(3)
    Recorder *r = (Recorder *)self;
    Scope *s = top(r);
    return s == NULL ? Py_NewRef(Py_None) : done(scope_exception(r, s, args[2]));
}

static PyObject *
close_scope(Recorder *r, PyObject *value, int unwound)
{
    Scope *s = top(r);
    if (s == NULL) {
        Py_RETURN_NONE;
    }
    /* off the stack first, as the Python backend pops before ret */
    Scope closing = *s;
    r->depth--;
    int rc = scope_ret(r, &closing, value, unwound);
    scope_clear(&closing);
    return done(rc);
}

PyObject *
mon_return(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(3)
    return close_scope((Recorder *)self, args[2], 0);
}

PyObject *
mon_unwind(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    EXPECT_ARGS(3)
    return close_scope((Recorder *)self, Py_None, 1);
}

#endif
