/* Shapes: when a container's repr text cannot have changed since the last frame.

   recorder.py keeps a list's or dict's text when it is the same object, with the
   same length (or still too long to show whole) and the same first items, all
   immutable, compared by identity. This generalizes that rule to everything a
   builtin container's repr is made of: a shape is a walk, in iteration order,
   of the container and what it holds (lists, tuples, dicts, sets, frozensets,
   defaultdicts, reprs.ATOMIC values, objects with object.__repr__), recording each
   object's identity and each container's length. The repr of the container is
   a function of exactly that walk, so the same walk means the same text: the
   reused text is the text repr() would give now, which is why recorder.py need
   not know this rule to record the same frames. Anything else in it (an object
   with its own __repr__, a long nested container) makes it shapeless: repr'd
   every frame, as in recorder.py. The shape holds references to what it saw,
   so an identity cannot be reused by a new object meanwhile. */
#include "ctrace.h"

#define MAX_DEPTH 16

typedef struct {
    PyObject *obj; /* strong */
    Py_ssize_t aux; /* a container's length (-1: longer than shown); 0 for others */
} Node;

struct Shape {
    PyObject *value;  /* borrowed: nodes[0].obj */
    Py_ssize_t head;  /* entries of a long top-level container that were kept */
    Py_ssize_t count, cap;
    Node nodes[];
};

typedef struct {
    Shape *shape;      /* when building */
    const Shape *old;  /* when comparing */
    Py_ssize_t at;     /* nodes emitted or compared */
    Py_ssize_t max_nodes, head;
    PyObject *path[MAX_DEPTH]; /* containers being walked (a cycle makes it shapeless) */
    int depth;
} Walk;

enum { SHAPELESS = 0, SAME = 1, ERROR = -1 };

static PyTypeObject *defaultdict_type; /* collections.defaultdict: its repr is C code too */
static PyObject *str_default_factory;

int
shape_init(void)
{
    PyObject *collections = PyImport_ImportModule("collections");
    if (collections == NULL) {
        return -1;
    }
    defaultdict_type = (PyTypeObject *)PyObject_GetAttrString(collections, "defaultdict");
    Py_DECREF(collections);
    str_default_factory = PyUnicode_InternFromString("default_factory");
    return defaultdict_type == NULL || str_default_factory == NULL ? -1 : 0;
}

static int
container_type(PyTypeObject *t)
{
    return t == &PyList_Type || t == &PyTuple_Type || t == &PyDict_Type || t == &PySet_Type
        || t == &PyFrozenSet_Type || t == defaultdict_type;
}

/* One node: kept (building) or compared (SAME, or SHAPELESS on a difference). */
static int
emit(Walk *w, PyObject *obj, Py_ssize_t aux)
{
    if (w->at >= w->max_nodes) {
        return SHAPELESS;
    }
    if (w->old != NULL) { /* max_nodes is the old walk's length: at < old->count */
        const Node *n = &w->old->nodes[w->at++];
        return n->obj == obj && n->aux == aux ? SAME : SHAPELESS;
    }
    Shape *s = w->shape;
    if (s->count == s->cap) {
        Py_ssize_t cap = Py_MIN(2 * s->cap, w->max_nodes);
        Shape *grown = PyMem_Realloc(s, sizeof(Shape) + cap * sizeof(Node));
        if (grown == NULL) {
            PyErr_NoMemory();
            return ERROR;
        }
        w->shape = s = grown;
        s->cap = cap;
    }
    s->nodes[s->count++] = (Node){Py_NewRef(obj), aux};
    w->at++;
    return SAME;
}

static int walk(Walk *w, PyObject *v, int top);

/* walk() of an item. The usual one is atomic: when comparing, one node, checked here. */
static inline int
walk_item(Walk *w, PyObject *v)
{
    if (w->old != NULL && is_atomic(Py_TYPE(v))) {
        if (w->at >= w->max_nodes) {
            return SHAPELESS;
        }
        const Node *n = &w->old->nodes[w->at++];
        return n->obj == v && n->aux == 0 ? SAME : SHAPELESS;
    }
    return walk(w, v, 0);
}

static int
walk_items(Walk *w, PyObject *v, Py_ssize_t shown)
{
    PyTypeObject *t = Py_TYPE(v);
    int rc = SAME;
    if (t == &PyList_Type || t == &PyTuple_Type) {
        PyObject **items = PySequence_Fast_ITEMS(v);
        for (Py_ssize_t i = 0; rc == SAME && i < shown; i++) {
            rc = walk_item(w, items[i]);
        }
        return rc;
    }
    if (PyDict_Check(v)) { /* dict, defaultdict: keys and values in order */
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *val;
        while (rc == SAME && i++ < shown && PyDict_Next(v, &pos, &k, &val)) {
            rc = walk_item(w, k);
            if (rc == SAME) {
                rc = walk_item(w, val);
            }
        }
        return rc;
    }
#if PY_VERSION_HEX < 0x030D0000
    { /* set, frozenset: iteration order, without an iterator object */
        Py_ssize_t pos = 0, i = 0;
        Py_hash_t hash;
        PyObject *item;
        while (rc == SAME && i++ < shown && _PySet_NextEntry(v, &pos, &item, &hash)) {
            Py_INCREF(item); /* a borrowed reference: hold it while walking */
            rc = walk_item(w, item);
            Py_DECREF(item);
        }
        return rc;
    }
#endif
    PyObject *it = PyObject_GetIter(v), *item; /* set, frozenset: iteration order */
    if (it == NULL) {
        return ERROR;
    }
    for (Py_ssize_t i = 0; rc == SAME && i < shown && (item = PyIter_Next(it)) != NULL; i++) {
        rc = walk_item(w, item);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? ERROR : rc;
}

/* The walk of one object: SAME (a node per thing its repr shows), SHAPELESS, or ERROR. */
static int
walk(Walk *w, PyObject *v, int top)
{
    PyTypeObject *t = Py_TYPE(v);
    if (is_atomic(t)) { /* its text is fixed by identity, as recorder.py assumes of ATOMIC */
        return emit(w, v, 0);
    }
    if (t->tp_repr == PyBaseObject_Type.tp_repr) { /* "<m.C object at 0x...>": type and address */
        int rc = emit(w, v, 0);
        return rc == SAME ? emit(w, (PyObject *)t, 0) : rc;
    }
    if (!container_type(t) || w->depth == MAX_DEPTH) {
        return SHAPELESS;
    }
    for (int i = 0; i < w->depth; i++) {
        if (w->path[i] == v) {
            return SHAPELESS;
        }
    }
    Py_ssize_t len = PyObject_Size(v);
    if (len < 0) {
        return ERROR;
    }
    /* Only the first `head` entries of a long container can reach a repr cut at the
       limit (each shows as at least "x, "); recorder._unchanged relies on the same. */
    Py_ssize_t shown = top && len > w->head ? w->head : len;
    int rc = emit(w, v, shown < len ? -1 : len);
    if (rc == SAME && t == defaultdict_type) { /* its repr shows its default_factory */
        PyObject *factory = PyObject_GetAttr(v, str_default_factory);
        if (factory == NULL) {
            return ERROR;
        }
        rc = factory == Py_None || is_atomic(Py_TYPE(factory)) ? emit(w, factory, 0) : SHAPELESS;
        Py_DECREF(factory);
    }
    if (rc != SAME) {
        return rc;
    }
    w->path[w->depth++] = v;
    rc = walk_items(w, v, shown);
    w->depth--;
    return rc;
}

void
shape_free(Shape *shape)
{
    if (shape == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < shape->count; i++) {
        Py_DECREF(shape->nodes[i].obj);
    }
    PyMem_Free(shape);
}

static Py_ssize_t
max_nodes(Py_ssize_t head)
{
    return 4 * head + 16; /* past that, walking costs about what the repr does */
}

int
shapeable(PyTypeObject *t)
{
    return container_type(t);
}

/* The shape of `value`, or NULL: shapeless (no error set) or an error. */
Shape *
shape_of(PyObject *value, Py_ssize_t head)
{
    Py_ssize_t cap = 16;
    Walk w = {PyMem_Malloc(sizeof(Shape) + cap * sizeof(Node)), NULL, 0, max_nodes(head), head};
    if (w.shape == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    w.shape->count = 0;
    w.shape->cap = cap;
    int rc = walk(&w, value, 1);
    if (rc != SAME) {
        shape_free(w.shape);
        return NULL;
    }
    w.shape->value = value;
    w.shape->head = head;
    return w.shape;
}

/* Whether `value` still has `shape`: 1, 0, or -1 on error. */
int
shape_unchanged(PyObject *value, const Shape *shape)
{
    if (shape->value != value) {
        return 0;
    }
    Walk w = {NULL, shape, 0, shape->count, shape->head};
    int rc = walk(&w, value, 1);
    return rc == ERROR ? -1 : rc == SAME && w.at == shape->count;
}
