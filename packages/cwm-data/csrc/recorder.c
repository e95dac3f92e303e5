/* The Recorder type: one trace's frames, its limits, and the stack of open scopes
   (recorder.Recorder). Whether a code object is recorded, and its CodeInfo, are
   decided once per code object: here for code of the traced source (the common
   case), by Python (ScopeView.wants, recorder.CodeInfo) for anything else. */
#include "ctrace.h"

static const char *HIDDEN_IN[4] = {"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"};

static int
same_file(Recorder *r, PyObject *code)
{
    PyObject *filename = ((PyCodeObject *)code)->co_filename;
    return filename == r->filename || PyUnicode_Compare(filename, r->filename) == 0;
}

/* Whether activations of `code` other than the entry's are recorded: 1, 0, -1 on error. */
static int
wanted(Recorder *r, PyObject *code, PyFrameObject *frame)
{
    /* ScopeView.wants: the traced source (its file, run in its module), or a match of
       an include glob */
    if (r->entry_only) {
        return 0;
    }
    if (same_file(r, code)) {
        if (frame == NULL) {
            return 1;
        }
        PyObject *globals = PyFrame_GetGlobals(frame);
        if (globals == NULL) {
            return -1;
        }
        Py_DECREF(globals); /* still held by the frame */
        return globals == r->globals;
    }
    if (r->wants == Py_None) {
        return 0;
    }
    CodeEntry *e = codes_get(&r->codes, code);
    if (e == NULL) {
        return -1;
    }
    if (e->wanted < 0) {
        PyObject *answer = PyObject_CallFunctionObjArgs(
            r->wants, code, frame != NULL ? (PyObject *)frame : Py_None, NULL);
        if (answer == NULL) {
            return -1;
        }
        int yes = PyObject_IsTrue(answer);
        Py_DECREF(answer);
        if (yes < 0) {
            return -1;
        }
        e->wanted = yes;
    }
    return e->wanted;
}

/* recorder.Recorder.may_open: could some activation of `code` still be recorded? */
int
rec_may_open(Recorder *r, PyObject *code)
{
    return code == r->entry_code ? 1 : wanted(r, code, NULL);
}

/* sources.first_resume: the offset of the first RESUME, or INT_MAX when a call event
   always starts the code (a plain function cannot resume), which spares copying its
   bytecode. Returns -1 on error. */
static int
first_resume(PyCodeObject *code)
{
    if (!(code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR))) {
        return INT_MAX;
    }
    PyObject *bytecode = PyCode_GetCode(code);
    if (bytecode == NULL) {
        return -1;
    }
    const unsigned char *ops = (const unsigned char *)PyBytes_AS_STRING(bytecode);
    int offset = 0;
    for (Py_ssize_t i = 0; i < PyBytes_GET_SIZE(bytecode); i += 2) {
        if (ops[i] == g_resume_opcode) {
            offset = (int)i;
            break;
        }
    }
    Py_DECREF(bytecode);
    return offset;
}

/* recorder.CodeInfo of code in the traced source, into `e`: 1, or 0 for a decorated
   function (whose def line Python finds), -1 on error. */
static int
source_info(Recorder *r, PyCodeObject *code, CodeEntry *e)
{
    int def_line = code->co_firstlineno;
    if (def_line >= 1 && def_line <= PyList_GET_SIZE(r->lines)) {
        PyObject *text = PyList_GET_ITEM(r->lines, def_line - 1);
        Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
        while (i < n && Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, i))) {
            i++;
        }
        if (i < n && PyUnicode_READ_CHAR(text, i) == '@') {
            return 0; /* SourceLines.def_line looks past the decorators */
        }
    }
    int resume = first_resume(code);
    if (resume < 0) {
        return -1;
    }
    /* CodeInfo.hide_names: a comprehension, or a class body (not CO_OPTIMIZED) */
    int hide = !(code->co_flags & CO_OPTIMIZED);
    for (int i = 0; !hide && i < 4; i++) {
        hide = PyUnicode_CompareWithASCIIString(code->co_name, HIDDEN_IN[i]) == 0;
    }
    e->lines = Py_NewRef(r->lines);
    e->in_source = 1;
    e->def_line = def_line;
    e->first_resume = resume;
    e->hide = hide;
    return 1;
}

/* CodeInfo from Python's code_info(code): (lines, in_source, def_line, first_resume, hide). */
static int
python_info(Recorder *r, PyObject *code, CodeEntry *e)
{
    PyObject *info = PyObject_CallOneArg(r->code_info, code);
    if (info == NULL) {
        return -1;
    }
    long def_line = -1, resume = -1;
    if (PyTuple_CheckExact(info) && PyTuple_GET_SIZE(info) == 5
        && PyList_CheckExact(PyTuple_GET_ITEM(info, 0))) {
        def_line = PyLong_AsLong(PyTuple_GET_ITEM(info, 2));
        resume = PyLong_AsLong(PyTuple_GET_ITEM(info, 3));
    }
    if (def_line < 0 || resume < 0 || def_line > INT_MAX || resume > INT_MAX) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "code_info must return (lines, in_source, def_line, first_resume, hide)");
        }
        Py_DECREF(info);
        return -1;
    }
    e->lines = Py_NewRef(PyTuple_GET_ITEM(info, 0));
    e->in_source = PyTuple_GET_ITEM(info, 1) == Py_True;
    e->def_line = (int)def_line;
    e->first_resume = (int)resume;
    e->hide = PyTuple_GET_ITEM(info, 4) == Py_True;
    Py_DECREF(info);
    return 0;
}

/* The entry of a code object with its CodeInfo filled in, or NULL on error. */
static CodeEntry *
info_of(Recorder *r, PyObject *code)
{
    CodeEntry *e = codes_get(&r->codes, code);
    if (e == NULL || e->lines != NULL) {
        return e;
    }
    int done = same_file(r, code) ? source_info(r, (PyCodeObject *)code, e) : 0;
    if (done == 0) {
        done = python_info(r, code, e);
    }
    return done < 0 ? NULL : e;
}

static Scope *
push(Recorder *r)
{
    if (r->depth == r->cap) {
        Py_ssize_t cap = r->cap ? 2 * r->cap : 16;
        Scope *grown = PyMem_Realloc(r->stack, cap * sizeof(Scope));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        r->stack = grown;
        r->cap = cap;
    }
    Scope *s = &r->stack[r->depth++];
    memset(s, 0, sizeof(Scope));
    return s;
}

void
rec_pop(Recorder *r)
{
    scope_clear(&r->stack[--r->depth]);
}

/* A code block starts (fresh = 1) or resumes (0; -1: tell by the instruction offset).
   Returns its new scope, with its call frame recorded, or NULL when it is not recorded
   (*error set when that is because of an exception). */
Scope *
rec_open(Recorder *r, PyFrameObject *frame, PyObject *code, int fresh, int *error)
{
    *error = 0;
    if (r->done) {
        return NULL;
    }
    int entry = 0;
    if (!r->started) {
        if (code != r->entry_code) {
            return NULL;
        }
        r->started = entry = 1;
    }
    else {
        int yes = wanted(r, code, frame);
        if (yes <= 0) {
            *error = yes < 0;
            return NULL;
        }
    }
    CodeEntry *e = info_of(r, code);
    if (e == NULL) {
        *error = 1;
        return NULL;
    }
    if (fresh < 0) {
        fresh = e->first_resume == INT_MAX || PyFrame_GetLasti(frame) <= e->first_resume;
    }
    Scope *s = push(r);
    if (s == NULL) {
        *error = 1;
        return NULL;
    }
    s->frame = Py_NewRef((PyObject *)frame);
    s->lines = Py_NewRef(e->lines);
    s->in_source = e->in_source;
    s->hide = e->hide;
    s->entry = entry;
    int lineno = fresh ? e->def_line : PyFrame_GetLineNumber(frame);
    if (scope_add(r, s, K_CALL, lineno) < 0) {
        rec_pop(r); /* as in Python: a scope whose call frame failed is never entered */
        *error = 1;
        return NULL;
    }
    return s;
}

/* The innermost open scope if it belongs to `frame` (the frame an event is about). */
Scope *
rec_top(Recorder *r, PyObject *frame)
{
    if (r->depth > 0 && r->stack[r->depth - 1].frame == frame) {
        return &r->stack[r->depth - 1];
    }
    return NULL;
}

static int
stop(Recorder *r, Py_ssize_t which)
{
    PyObject *reason = PyTuple_GET_ITEM(r->messages, which);
    if (r->stopped == Py_None) {
        Py_SETREF(r->stopped, Py_NewRef(reason));
    }
    r->done = 1;
    PyObject *res = PyObject_CallOneArg(r->on_limit, reason);
    if (res == NULL) {
        return -1; /* TraceLimit, raised into the traced code */
    }
    Py_DECREF(res);
    return 0;
}

/* Stop if a limit is passed (the clock is read only every 128 frames). */
int
rec_check(Recorder *r)
{
    if (r->done) {
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(r->frames);
    if (n >= r->max_steps) {
        return stop(r, 0);
    }
    if (r->size > r->max_bytes) {
        return stop(r, 1);
    }
    if (!(n & 127)) {
        PyObject *now = PyObject_CallNoArgs(g_monotonic);
        if (now == NULL) {
            return -1;
        }
        double t = PyFloat_AsDouble(now);
        Py_DECREF(now);
        if (t > r->deadline) {
            return stop(r, 2);
        }
    }
    return 0;
}

/* ---- the Python type ---- */

static int
Recorder_init(Recorder *r, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"entry_code", "filename", "lines", "globals", "entry_only", "wants",
                            "code_info", "on_limit", "on_exit", "messages", "max_steps",
                            "max_trace_bytes", "max_repr", "deadline", NULL};
    PyObject *entry_code, *filename, *lines, *globals, *wants, *code_info, *on_limit, *on_exit,
        *messages;
    Py_ssize_t max_steps, max_bytes, max_repr;
    int entry_only;
    double deadline;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!UO!O!pOOOOO!nnnd", names, &PyCode_Type,
                                     &entry_code, &filename, &PyList_Type, &lines, &PyDict_Type,
                                     &globals, &entry_only,
                                     &wants, &code_info, &on_limit, &on_exit, &PyTuple_Type,
                                     &messages, &max_steps, &max_bytes, &max_repr, &deadline)) {
        return -1;
    }
    if (PyTuple_GET_SIZE(messages) != 3 || max_repr < 0) {
        PyErr_SetString(PyExc_ValueError, "messages: three limit reasons; max_repr >= 0");
        return -1;
    }
    Py_XSETREF(r->entry_code, Py_NewRef(entry_code));
    Py_XSETREF(r->filename, Py_NewRef(filename));
    Py_XSETREF(r->lines, Py_NewRef(lines));
    Py_XSETREF(r->globals, Py_NewRef(globals));
    r->entry_only = entry_only;
    Py_XSETREF(r->wants, Py_NewRef(wants));
    Py_XSETREF(r->code_info, Py_NewRef(code_info));
    Py_XSETREF(r->on_limit, Py_NewRef(on_limit));
    Py_XSETREF(r->on_exit, Py_NewRef(on_exit));
    Py_XSETREF(r->messages, Py_NewRef(messages));
    Py_XSETREF(r->frames, PyList_New(0));
    codes_clear(&r->codes);
    Py_XSETREF(r->default_reprs, PyDict_New());
    Py_XSETREF(r->stopped, Py_NewRef(Py_None));
    Py_XSETREF(r->instrument, Py_NewRef(Py_None));
    if (!r->frames || !r->default_reprs) {
        return -1;
    }
    r->max_steps = max_steps;
    r->max_bytes = max_bytes;
    r->max_repr = max_repr;
    r->head = max_repr / 3 + 1; /* items of a long container its repr can show */
    r->deadline = deadline;
    r->size = 0;
    r->started = r->done = 0;
    r->tstate = PyThreadState_Get();
    return 0;
}

static int
Recorder_traverse(Recorder *r, visitproc visit, void *arg)
{
    Py_VISIT(r->frames);
    Py_VISIT(r->entry_code);
    Py_VISIT(r->filename);
    Py_VISIT(r->lines);
    Py_VISIT(r->globals);
    Py_VISIT(r->wants);
    Py_VISIT(r->code_info);
    Py_VISIT(r->on_limit);
    Py_VISIT(r->on_exit);
    Py_VISIT(r->messages);
    for (Py_ssize_t i = 0; i < r->codes.cap; i++) {
        Py_VISIT(r->codes.entries[i].code);
        Py_VISIT(r->codes.entries[i].lines);
    }
    Py_VISIT(r->default_reprs);
    Py_VISIT(r->stopped);
    Py_VISIT(r->instrument);

    for (Py_ssize_t i = 0; i < r->depth; i++) {
        Py_VISIT(r->stack[i].frame);
        Py_VISIT(r->stack[i].last_exc);
    }
    return 0;
}

static int
Recorder_clear(Recorder *r)
{
    while (r->depth > 0) {
        rec_pop(r);
    }
    Py_CLEAR(r->frames);
    Py_CLEAR(r->entry_code);
    Py_CLEAR(r->filename);
    Py_CLEAR(r->lines);
    Py_CLEAR(r->globals);
    Py_CLEAR(r->wants);
    Py_CLEAR(r->code_info);
    Py_CLEAR(r->on_limit);
    Py_CLEAR(r->on_exit);
    Py_CLEAR(r->messages);
    codes_clear(&r->codes);
    Py_CLEAR(r->default_reprs);
    Py_CLEAR(r->stopped);
    Py_CLEAR(r->instrument);

    return 0;
}

static void
Recorder_dealloc(Recorder *r)
{
    PyObject_GC_UnTrack(r);
    Recorder_clear(r);
    PyMem_Free(r->stack);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *
get_flag(Recorder *r, void *which)
{
    return PyBool_FromLong(which ? r->done : r->started);
}

static int
set_done(Recorder *r, PyObject *value, void *unused)
{
    int yes = value == NULL ? 0 : PyObject_IsTrue(value);
    if (yes < 0) {
        return -1;
    }
    r->done = yes;
    return 0;
}

static PyObject *
get_stopped(Recorder *r, void *unused)
{
    return Py_NewRef(r->stopped);
}

static int
set_stopped(Recorder *r, PyObject *value, void *unused)
{
    Py_XSETREF(r->stopped, Py_NewRef(value != NULL ? value : Py_None));
    return 0;
}

static PyObject *
get_size(Recorder *r, void *unused)
{
    return PyLong_FromSsize_t(r->size);
}

static PyObject *
get_frames(Recorder *r, void *unused)
{
    return Py_NewRef(r->frames);
}

static PyGetSetDef Recorder_getset[] = {
    {"frames", (getter)get_frames, NULL, "the frame records so far", NULL},
    {"started", (getter)get_flag, NULL, "whether the entry activation began", NULL},
    {"done", (getter)get_flag, (setter)set_done, "whether recording is over", (void *)1},
    {"stopped", (getter)get_stopped, (setter)set_stopped, "the limit that stopped it, or None", NULL},
    {"size", (getter)get_size, NULL, "characters of frame text", NULL},
    {NULL},
};

static PyMethodDef Recorder_methods[] = {
    {"settrace", settrace_install, METH_NOARGS,
     "Install this recorder as the C trace function of the calling thread."},
#if PY_VERSION_HEX >= 0x030C0000
    MONITORING_METHODS
#endif
    {NULL},
};

PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cwm.data.trace._ctrace.Recorder",
    .tp_doc = "recorder.Recorder in C: frames of one trace, fed by settrace or sys.monitoring.",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Recorder_init,
    .tp_traverse = (traverseproc)Recorder_traverse,
    .tp_clear = (inquiry)Recorder_clear,
    .tp_dealloc = (destructor)Recorder_dealloc,
    .tp_call = settrace_call,
    .tp_getset = Recorder_getset,
    .tp_methods = Recorder_methods,
};
