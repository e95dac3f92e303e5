/* The C recorder of cwm.data.trace: what its files share.

   The pure-Python recorder (cwm/data/trace/recorder.py) is the reference: every
   rule here (which activations are scopes, which text a local gets, when a limit
   stops the trace) is that file's rule, and the tests compare the two paths
   record for record. Python still decides, once per code object, whether its
   activations are recorded (ScopeView) and what its source lines are.

   recorder.c    the Recorder type: limits, scope decisions, the stack of open scopes
   codes.c       per code object decisions, looked up by identity
   scope.c       the frame records of one open scope (call, line, return, exception)
   snapshot.c    a scope's locals as repr text, reusing the previous frame's text
   locals.c      the frame's locals dict, refreshed at the cost of what changed, and
                 the snapshot of a function's frame at that cost too
   shape.c       when a container's repr cannot have changed since the previous frame
   reprs.c       bounded repr text (reprs.py)
   settrace.c    the trace function for PyEval_SetTrace, and its sys.settrace form
   monitoring.c  sys.monitoring callbacks (Python 3.12+)
   module.c      the module and the objects the files share
*/
#ifndef CWM_CTRACE_H
#define CWM_CTRACE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

/* Frame kinds, in the order of module.c's record types. */
enum { K_CALL, K_LINE, K_RETURN, K_EXCEPTION };

typedef struct Shape Shape;

/* One local of a scope's previous frame. */
typedef struct {
    PyObject *name; /* strong (NULL in Scope.vars, which go by the code's names) */
    PyObject *text; /* strong: its repr text (NULL in Scope.vars: not in the record) */
    PyObject *obj;  /* strong or NULL: the value, kept when the same object means the same text */
    PyObject *type; /* strong or NULL: its type too, when that could change (object.__repr__) */
    Shape *shape;   /* owned or NULL: a list's or dict's length and first items */
} Slot;

/* Whether a slot's text is still `value`'s: the same object, kept because its text
   is fixed by identity (and, for object.__repr__, its type). */
static inline int
slot_keeps(const Slot *slot, PyObject *value)
{
    return value != NULL && slot->obj == value
        && (slot->type == NULL || slot->type == (PyObject *)Py_TYPE(value));
}

typedef struct {
    Slot *slots;
    Py_ssize_t n, cap;
} Slots;

/* codes.c: per code object decisions, by identity */
typedef struct {
    PyObject *code;   /* strong, or NULL for an empty slot */
    int wanted;       /* ScopeView.wants: 1, 0, or -1 not asked yet */
    int instrumented; /* sys.monitoring: its local events are on */
    /* recorder.CodeInfo, once known (lines != NULL) */
    PyObject *lines;  /* strong: list[str], the lines of its file */
    int in_source, hide, def_line;
    int first_resume; /* INT_MAX for a function that cannot resume (not a generator) */
} CodeEntry;

typedef struct {
    CodeEntry *entries;
    Py_ssize_t cap, used;
} Codes;

CodeEntry *codes_get(Codes *t, PyObject *code);
void codes_clear(Codes *t);

/* One recorded activation, from its call frame to its return frame. */
typedef struct {
    PyObject *frame;    /* strong: the PyFrameObject */
    PyObject *lines;    /* strong: list[str], the lines of its file */
    int in_source;      /* its file is the traced source (frames get line numbers) */
    int hide;           /* comprehension or class body: hide ".0" and dunder names */
    int entry;          /* the entry activation: its exit ends the trace */
    PyObject *last_exc; /* strong or NULL: the last exception raised in it */
    Slots prev;         /* the previous frame's locals, in f_locals order (snapshot.c) */
    Slot *vars;         /* owned or NULL: the same by fast local index (locals.c's fast_snapshot) */
    int nvars;          /* their number */
    int nvolatile;      /* vars whose text may change while the same object is bound */
    int generic;        /* vars cannot be used: the snapshot reads f_locals */
    PyObject *out;      /* strong or NULL: the previous frame's locals dict */
    PyObject **fast;    /* owned or NULL: the fast locals f_locals last held (locals.c) */
    uint64_t version;   /* f_locals' version tag then */
    Py_ssize_t total;   /* characters of text in the current locals */
} Scope;

typedef struct {
    PyObject_HEAD
    PyObject *frames;        /* list of frame records (CallFrame, ...) */
    PyObject *entry_code;    /* the entry function's code object */
    PyObject *filename;      /* the traced source's file name */
    PyObject *lines;         /* list[str]: its lines */
    PyObject *globals;       /* the traced module's namespace: its code runs with these globals */
    int entry_only;          /* scope "entry": only the entry activation is recorded */
    PyObject *wants;         /* callable(code, frame) -> bool for other files (include globs), or None */
    PyObject *code_info;     /* callable(code) -> (lines, in_source, def_line, first_resume, hide) */
    PyObject *on_limit;      /* callable(reason): raises TraceLimit by default */
    PyObject *on_exit;       /* callable(value, exc) or Py_None */
    PyObject *messages;      /* (max_steps, max_trace_bytes, max_seconds) reasons */
    Codes codes;             /* per code object: wanted, info */
    PyObject *default_reprs; /* dict: (type, id) -> text of objects with object.__repr__ */
    PyObject *stopped;       /* str or Py_None: the limit that stopped the trace */
    Py_ssize_t max_steps, max_bytes, max_repr, head, size;
    double deadline;         /* time.monotonic() past which the trace stops */
    int started, done;
    PyThreadState *tstate;   /* the thread being traced */
    Scope *stack;            /* open scopes, innermost last */
    Py_ssize_t depth, cap;
    /* sys.monitoring only */
    PyObject *instrument;    /* callable(code): switch on its local events, or Py_None */
} Recorder;

/* module.c: shared objects, set once at import */
extern PyTypeObject RecorderType;
extern PyObject *g_kinds[4];      /* CallFrame, LineFrame, ReturnFrame, ExceptionFrame */
extern PyObject *g_kw_locals;     /* ("line", "lineno", "locals") */
extern PyObject *g_kw_value;      /* ("line", "lineno", "value") */
extern PyObject *g_unwinding;     /* cwm.data.trace.recorder.unwinding */
extern PyObject *g_monotonic;     /* time.monotonic */
extern PyObject *g_disable;       /* sys.monitoring.DISABLE, or NULL before 3.12 */
extern PyObject *g_truncated, *g_dots, *g_dots_repr, *g_empty, *g_comma, *g_colon, *g_str_f_trace;
extern int g_resume_opcode;   /* dis.opmap['RESUME'] */

/* recorder.c */
Scope *rec_open(Recorder *r, PyFrameObject *frame, PyObject *code, int fresh, int *error);
Scope *rec_top(Recorder *r, PyObject *frame);
void rec_pop(Recorder *r);
int rec_may_open(Recorder *r, PyObject *code);
int rec_check(Recorder *r);

/* scope.c */
int scope_add(Recorder *r, Scope *s, int kind, int lineno);
int scope_line(Recorder *r, Scope *s, int lineno);
int scope_exception(Recorder *r, Scope *s, PyObject *exc);
int scope_ret(Recorder *r, Scope *s, PyObject *value, int unwound);
void scope_clear(Scope *s);

/* shape.c */
int shape_init(void);
int shapeable(PyTypeObject *t);
Shape *shape_of(PyObject *value, Py_ssize_t head);
int shape_unchanged(PyObject *value, const Shape *shape);
void shape_free(Shape *shape);

/* locals.c */
PyObject *frame_locals(Scope *s);
PyObject *fast_snapshot(Recorder *r, Scope *s);
void vars_clear(Scope *s);

/* snapshot.c */
PyObject *snapshot(Recorder *r, Scope *s);
int slot_update(Recorder *r, Slot *slot, PyObject *value, int *changed);
int hidden(PyObject *name);
void slot_clear(Slot *slot);
void slots_clear(Slots *slots);

/* reprs.c */
static inline int
is_atomic(PyTypeObject *t)
{
    /* reprs.ATOMIC: immutable types whose repr cannot change while the same object is bound */
    return t == &PyLong_Type || t == &PyUnicode_Type || t == &PyFloat_Type || t == &PyBool_Type
        || t == Py_TYPE(Py_None) || t == &PyBytes_Type || t == &PyComplex_Type
        || t == Py_TYPE(Py_Ellipsis) || t == &PyRange_Type || t == &PyType_Type
        || t == &PyFunction_Type || t == &PyCFunction_Type || t == &PyModule_Type;
}

PyObject *value_repr(PyObject *obj, Py_ssize_t limit);
PyObject *local_repr(PyObject *obj, Py_ssize_t limit);

/* settrace.c */
int settrace_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg);
PyObject *settrace_call(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *settrace_install(PyObject *self, PyObject *unused);

/* monitoring.c: the sys.monitoring callbacks, as methods of Recorder */
#if PY_VERSION_HEX >= 0x030C0000
PyObject *mon_watch(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_resume(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_jump(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_raise(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_return(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *mon_unwind(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
#define MONITORING_METHOD(name, doc) {#name, (PyCFunction)(void (*)(void))name, METH_FASTCALL, doc},
#define MONITORING_METHODS \
    MONITORING_METHOD(mon_watch, "mon_watch(instrument): how code in scope gets its line events") \
    MONITORING_METHOD(mon_start, "PY_START callback") \
    MONITORING_METHOD(mon_resume, "PY_RESUME callback") \
    MONITORING_METHOD(mon_throw, "PY_THROW callback") \
    MONITORING_METHOD(mon_line, "LINE callback") \
    MONITORING_METHOD(mon_jump, "JUMP callback") \
    MONITORING_METHOD(mon_raise, "RAISE and STOP_ITERATION callback") \
    MONITORING_METHOD(mon_return, "PY_RETURN and PY_YIELD callback") \
    MONITORING_METHOD(mon_unwind, "PY_UNWIND callback")
#endif

#endif
