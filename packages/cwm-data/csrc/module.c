/* cwm.data.trace._ctrace: the C recorder. init() hands it the Python objects it
   shares with the pure-Python recorder (the record types, the reserved texts). */
#include "ctrace.h"

PyObject *g_kinds[4];
PyObject *g_kw_locals, *g_kw_value, *g_unwinding, *g_monotonic, *g_disable;
PyObject *g_truncated, *g_dots, *g_dots_repr, *g_empty, *g_comma, *g_colon, *g_str_f_trace;
int g_resume_opcode = -1;

/* init(CallFrame, LineFrame, ReturnFrame, ExceptionFrame, unwinding, TRUNCATED, DOTS_REPR, RESUME) */
static PyObject *
init(PyObject *module, PyObject *args)
{
    PyObject *kinds[4], *unwinding, *truncated, *dots_repr;
    if (!PyArg_ParseTuple(args, "OOOOOUUi:init", &kinds[0], &kinds[1], &kinds[2], &kinds[3],
                          &unwinding, &truncated, &dots_repr, &g_resume_opcode)) {
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        Py_XSETREF(g_kinds[i], Py_NewRef(kinds[i]));
    }
    Py_XSETREF(g_unwinding, Py_NewRef(unwinding));
    Py_XSETREF(g_truncated, Py_NewRef(truncated));
    Py_XSETREF(g_dots_repr, Py_NewRef(dots_repr));
    Py_RETURN_NONE;
}

/* The types reprs.ATOMIC must equal (a test compares them). */
static PyObject *
atomic_types(PyObject *module, PyObject *candidates)
{
    PyObject *out = PySet_New(NULL), *it = PyObject_GetIter(candidates), *t;
    if (out == NULL || it == NULL) {
        Py_XDECREF(out);
        Py_XDECREF(it);
        return NULL;
    }
    while ((t = PyIter_Next(it)) != NULL) {
        if (PyType_Check(t) && is_atomic((PyTypeObject *)t) && PySet_Add(out, t) < 0) {
            Py_DECREF(t);
            Py_DECREF(it);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    Py_DECREF(it);
    return out;
}

static PyObject *
py_value_repr(PyObject *module, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t limit;
    int local = 0;
    if (!PyArg_ParseTuple(args, "On|p:value_repr", &obj, &limit, &local)) {
        return NULL;
    }
    return local ? local_repr(obj, limit) : value_repr(obj, limit);
}

static PyMethodDef module_methods[] = {
    {"init", init, METH_VARARGS, "Hand over the record types and the reserved texts (once)."},
    {"atomic_types", atomic_types, METH_O, "Those of the given types the C code treats as atomic."},
    {"value_repr", py_value_repr, METH_VARARGS,
     "value_repr(obj, limit, local=False): the C bounded repr (local: never '..')."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ctrace", "The C recorder of cwm.data.trace.", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__ctrace(void)
{
    if (PyType_Ready(&RecorderType) < 0 || shape_init() < 0) {
        return NULL;
    }
    /* interned, as the records' field names are: msgspec matches them by identity first */
    g_kw_locals = Py_BuildValue("(NNN)", PyUnicode_InternFromString("line"),
                                PyUnicode_InternFromString("lineno"),
                                PyUnicode_InternFromString("locals"));
    g_kw_value = Py_BuildValue("(NNN)", PyUnicode_InternFromString("line"),
                               PyUnicode_InternFromString("lineno"),
                               PyUnicode_InternFromString("value"));
    g_dots = PyUnicode_InternFromString("..");
    g_empty = PyUnicode_InternFromString("");
    g_comma = PyUnicode_InternFromString(", ");
    g_colon = PyUnicode_InternFromString(": ");
    g_str_f_trace = PyUnicode_InternFromString("f_trace");
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL) {
        return NULL;
    }
    g_monotonic = PyObject_GetAttrString(time, "monotonic");
    Py_DECREF(time);
    if (!g_kw_locals || !g_kw_value || !g_dots || !g_empty || !g_comma || !g_colon || !g_str_f_trace || !g_monotonic) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *monitoring = PyImport_ImportModule("sys");
    if (monitoring == NULL) {
        return NULL;
    }
    Py_SETREF(monitoring, PyObject_GetAttrString(monitoring, "monitoring"));
    if (monitoring == NULL) {
        return NULL;
    }
    g_disable = PyObject_GetAttrString(monitoring, "DISABLE");
    Py_DECREF(monitoring);
    if (g_disable == NULL) {
        return NULL;
    }
#endif
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Recorder", (PyObject *)&RecorderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
