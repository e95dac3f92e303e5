"""Preparing a task: run its source as a module and resolve the call to its entry function.

Everything that makes a task unrunnable is an `InvalidTask` with a one-line
reason: a syntax error, a module that raises while it is imported, a call
expression that does not parse or whose function is missing, or an entry that
is not a plain Python function of the source.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cwm.data.trace.reprs import value_repr
from cwm.data.trace.sources import SourceLines

_CO_NOT_PLAIN = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
MAX_SOURCE_CHARS = 2_000_000


class InvalidTask(Exception):
    """The task cannot be traced; the message says why in one line."""


def normalize_source(source: str) -> str:
    """Newlines as ``\\n`` only, so trace line numbers index ``source.split("\\n")``."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def task_filename(module: str) -> str:
    return f"<cwm-trace:{module}>"


def compile_source(source: str, filename: str) -> types.CodeType:
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidTask(
            f"the source has {len(source)} characters; the limit is {MAX_SOURCE_CHARS}"
        )
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        raise InvalidTask(f"syntax error in the source: {where}{exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise InvalidTask(f"the source cannot be compiled: {type(exc).__name__}: {exc}") from None


@dataclass
class Target:
    """A task ready to trace: its module is loaded and its call resolved."""

    source: str
    filename: str
    lines: SourceLines
    module: types.ModuleType
    callee: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    entry: types.FunctionType
    entry_line: int
    _restore: list[Callable[[], None]] = field(default_factory=list)

    @property
    def entry_name(self) -> str:
        return self.entry.__qualname__

    def close(self) -> None:
        """Unregister the module (in-process runs leave the interpreter as they found it)."""
        while self._restore:
            self._restore.pop()()


def prepare(
    source: str,
    call: str,
    module: str,
    *,
    package: str | None = None,
    code: types.CodeType | None = None,
) -> Target:
    """Run ``source`` as module ``module`` and resolve ``call``; raises `InvalidTask`."""
    source = normalize_source(source)
    filename = task_filename(module)
    if code is None:
        code = compile_source(source, filename)
    call_node = _parse_call(call)
    mod, restore = _load_module(code, source, filename, module, package)
    try:
        callee, args, kwargs = _evaluate_call(call_node, call, mod)
        entry = resolve_entry(callee, call)
        if entry.__code__.co_filename != filename:
            raise InvalidTask(
                f"{call!r} calls {entry.__module__}.{entry.__qualname__}, which is not defined in "
                "the source; the entry must be a function of the traced source"
            )
    except BaseException:
        for undo in reversed(restore):
            undo()
        raise
    lines = SourceLines(source)
    return Target(
        source,
        filename,
        lines,
        mod,
        callee,
        args,
        kwargs,
        entry,
        lines.def_line(entry.__code__),
        restore,
    )


def _parse_call(call: str) -> ast.Call:
    try:
        node = ast.parse(call.strip(), "<call>", mode="eval").body
    except SyntaxError as exc:
        raise InvalidTask(f"the call {call!r} is not a Python expression: {exc.msg}") from None
    if not isinstance(node, ast.Call):
        raise InvalidTask(f"the call {call!r} must be a call expression such as f(1, [2, 3])")
    return node


def _load_module(
    code: types.CodeType, source: str, filename: str, name: str, package: str | None
) -> tuple[types.ModuleType, list[Callable[[], None]]]:
    mod = types.ModuleType(name)
    mod.__file__ = filename
    mod.__package__ = name.rpartition(".")[0] if package is None else package
    restore: list[Callable[[], None]] = []
    if name not in sys.modules:  # dataclasses, pickle and typing look classes up here
        # (an imported module of the same name stays: replacing it would break its users)
        sys.modules[name] = mod
        restore.append(lambda: sys.modules.pop(name, None))
    if filename not in linecache.cache:  # so inspect.getsource and tracebacks see the source
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        restore.append(lambda: linecache.cache.pop(filename, None))
    try:
        exec(code, mod.__dict__)
    except (Exception, SystemExit) as exc:
        for undo in reversed(restore):
            undo()
        raise InvalidTask(f"running the source as a module raised {value_repr(exc, 300)}") from None
    return mod, restore


def _capture(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def _evaluate_call(
    node: ast.Call, call: str, mod: types.ModuleType
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """Evaluate the callee and the arguments (untraced); the call itself is left to the tracer."""
    namespace = mod.__dict__
    try:
        callee = eval(compile(ast.Expression(node.func), "<call>", "eval"), namespace)
    except NameError as exc:
        raise InvalidTask(f"the call {call!r} names a function the source lacks: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise InvalidTask(
            f"evaluating the function of {call!r} raised {value_repr(exc, 300)}"
        ) from None
    capture = ast.Call(
        func=ast.Name("__cwm_capture__", ast.Load()), args=node.args, keywords=node.keywords
    )
    expr = ast.fix_missing_locations(ast.Expression(capture))
    try:
        args, kwargs = eval(
            compile(expr, "<call>", "eval"), {**namespace, "__cwm_capture__": _capture}
        )
    except (Exception, SystemExit) as exc:
        raise InvalidTask(
            f"evaluating the arguments of {call!r} raised {value_repr(exc, 300)}"
        ) from None
    if not callable(callee):
        raise InvalidTask(
            f"the call {call!r} calls a {type(callee).__name__}, which is not callable"
        )
    return callee, args, kwargs


def resolve_entry(callee: Any, call: str) -> types.FunctionType:
    """The Python function a call enters first: through methods, partials, wrappers, classes."""
    fn = callee
    for _ in range(20):
        if isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.FunctionType) and hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        elif isinstance(fn, types.FunctionType):
            break
        elif isinstance(fn, type):
            fn = _python_attr(fn, "__init__") or _python_attr(fn, "__new__") or fn
            if isinstance(fn, type):
                break
        elif hasattr(fn, "__wrapped__"):  # functools.lru_cache and friends
            fn = fn.__wrapped__
        elif not isinstance(fn, types.BuiltinFunctionType) and _python_attr(type(fn), "__call__"):
            fn = _python_attr(type(fn), "__call__")
        else:
            break
    if not isinstance(fn, types.FunctionType):
        raise InvalidTask(
            f"the call {call!r} calls {value_repr(callee, 80)}, which is not a Python function "
            "of the source; call a function defined in the source"
        )
    if fn.__code__.co_flags & _CO_NOT_PLAIN:
        raise InvalidTask(
            f"{fn.__qualname__} is a generator or coroutine function: calling it runs none of its "
            "code; trace a function that consumes it instead"
        )
    return fn


def _python_attr(cls: type, name: str) -> types.FunctionType | None:
    attr = inspect.getattr_static(cls, name, None)
    if isinstance(attr, staticmethod):
        attr = attr.__func__
    return attr if isinstance(attr, types.FunctionType) else None
