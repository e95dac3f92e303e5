/* The settrace backend in C: a Py_tracefunc for PyEval_SetTrace (backends/settrace.py).

   CPython calls it for every event of every frame of the thread; only the
   innermost open scope's frame is recorded, which is what sys.settrace's local
   trace functions give the Python recorder. A recorded frame also gets the
   recorder as its f_trace, and the recorder is callable as a sys.settrace
   function, so code that saves and restores the trace function
   (sys.settrace(sys.gettrace())), or installs its own, sees what it would see
   with the Python recorder. */
#include "ctrace.h"

#if PY_VERSION_HEX < 0x030D0000
#include <internal/pycore_frame.h> /* PyFrameObject's fields */
#endif

static int
on_call(Recorder *r, PyFrameObject *frame)
{
    int error;
    PyCodeObject *code = PyFrame_GetCode(frame);
    Scope *s = rec_open(r, frame, (PyObject *)code, -1, &error);
    Py_DECREF(code);
    if (s == NULL) {
        return error ? -1 : 0;
    }
#if PY_VERSION_HEX < 0x030D0000
    /* what frame.f_trace = r does (3.13 also switches opcode events there) */
    Py_XSETREF(frame->f_trace, Py_NewRef((PyObject *)r));
    return 0;
#else
    return PyObject_SetAttr((PyObject *)frame, g_str_f_trace, (PyObject *)r);
#endif
}

static int
dispatch(Recorder *r, PyFrameObject *frame, int what, PyObject *arg, int unwound)
{
    Scope *s;
    switch (what) {
    case PyTrace_CALL:
        return on_call(r, frame);
    case PyTrace_LINE:
        s = rec_top(r, (PyObject *)frame);
        return s == NULL ? 0 : scope_line(r, s, PyFrame_GetLineNumber(frame));
    case PyTrace_RETURN:
        s = rec_top(r, (PyObject *)frame);
        if (s == NULL) {
            return 0;
        }
        int rc = scope_ret(r, s, arg != NULL ? arg : Py_None, unwound);
        rec_pop(r);
        return rc;
    case PyTrace_EXCEPTION:
        s = rec_top(r, (PyObject *)frame);
        return s == NULL ? 0 : scope_exception(r, s, PyTuple_GET_ITEM(arg, 1));
    }
    return 0;
}

int
settrace_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    /* a return event with no value is an exception unwinding the frame */
    if (dispatch((Recorder *)obj, frame, what, arg, what == PyTrace_RETURN && arg == NULL) < 0) {
        PyEval_SetTrace(NULL, NULL); /* as sys.settrace does when its function raises */
        return -1;
    }
    return 0;
}

PyObject *
settrace_install(PyObject *self, PyObject *unused)
{
    PyEval_SetTrace(settrace_event, self);
    Py_RETURN_NONE;
}

/* The recorder as a sys.settrace function: (frame, event, arg) -> itself for recorded frames. */
PyObject *
settrace_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Recorder *r = (Recorder *)self;
    PyFrameObject *frame;
    const char *event;
    PyObject *arg;
    static char *names[] = {"frame", "event", "arg", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!sO:Recorder", names, &PyFrame_Type, &frame,
                                     &event, &arg)) {
        return NULL;
    }
    int what, unwound = 0;
    if (strcmp(event, "call") == 0) {
        what = PyTrace_CALL;
    }
    else if (strcmp(event, "line") == 0) {
        what = PyTrace_LINE;
    }
    else if (strcmp(event, "return") == 0) {
        what = PyTrace_RETURN;
        if (arg == Py_None) { /* sys.settrace passes None for an unwind: read the instruction */
            PyObject *res = PyObject_CallOneArg(g_unwinding, (PyObject *)frame);
            if (res == NULL) {
                return NULL;
            }
            unwound = res == Py_True;
            Py_DECREF(res);
        }
    }
    else if (strcmp(event, "exception") == 0) {
        what = PyTrace_EXCEPTION;
    }
    else {
        Py_RETURN_NONE;
    }
    if (dispatch(r, frame, what, arg, unwound) < 0) {
        return NULL;
    }
    if (what == PyTrace_CALL && PyThreadState_Get() == r->tstate) {
        /* back to the fast way for the next events (coverage.py's CTracer does the same:
           at a call event, so a trace function installed since then keeps its turn) */
        PyEval_SetTrace(settrace_event, self);
    }
    if (what == PyTrace_RETURN || rec_top(r, (PyObject *)frame) == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(self);
}
