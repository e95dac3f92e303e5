"""Harvested corpora: real functions from Python sources, with generated inputs.

``stdlib`` harvests the standard library (call sites also come from its test
suite), ``package`` an installed package, ``directory`` any source tree. Each
function becomes tasks whose source is the function's dependency slice of its
module and whose calls come from `cwm.data.corpora.inputs.generate`.
"""

from __future__ import annotations

import ast
import hashlib
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from cwm.core.tokenizer.train import stdlib_dir
from cwm.data.corpora.functions import Function, module_functions
from cwm.data.corpora.inputs.callsites import Site, SiteIndex
from cwm.data.corpora.inputs.generate import candidates, variants
from cwm.data.corpora.modules import Module, iter_modules, package_dir
from cwm.data.corpora.slicer import ModuleSlicer
from cwm.data.trace.task import TraceTask


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _slicer(path: Path) -> ModuleSlicer | None:
    source = _read(path)
    try:
        return ModuleSlicer.parse(source) if source is not None else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@dataclass
class HarvestCorpus:
    """Functions found under ``roots`` (``(directory, dotted prefix)``), with generated inputs."""

    name: str
    roots: list[tuple[Path, str]]
    #: more sources scanned for call sites only (a test suite)
    scan_only: list[tuple[Path, str]] = field(default_factory=list)
    candidates_per_function: int = 8
    max_source_lines: int = 400
    max_functions: int | None = None
    seed: int = 0
    progress: bool = True
    _functions: list[Function] | None = field(default=None, repr=False)
    _sites: SiteIndex | None = field(default=None, repr=False)

    def functions(self) -> list[Function]:
        if self._functions is None:
            self._harvest()
        assert self._functions is not None
        return self._functions

    def _harvest(self) -> None:
        modules = [m for root, prefix in self.roots for m in iter_modules(root, prefix)]
        extra = [
            m for root, prefix in self.scan_only for m in iter_modules(root, prefix, tests=True)
        ]
        with _executor() as pool:
            found: list[Function] = []
            jobs = pool.map(
                _functions_of, modules, [self.max_source_lines] * len(modules), chunksize=8
            )
            bar = dict(desc=f"harvesting {self.name}", unit="module", disable=not self.progress)
            for functions in tqdm(jobs, total=len(modules), **bar):
                found += functions
            found.sort(key=lambda f: f.key)
            if self.max_functions is not None:
                found = _spread(found, self.max_functions)
            classes = {f"{f.module.name}.{f.class_name}" for f in found if f.kind != "function"}
            sites = SiteIndex({f.key for f in found} | classes, classes)
            files = modules + extra
            jobs = pool.map(_sites_of, files, [(sites.targets, classes)] * len(files), chunksize=8)
            bar = dict(desc="reading call sites", unit="file", disable=not self.progress)
            for partial in tqdm(jobs, total=len(files), **bar):
                sites.merge(partial)
        self._functions, self._sites = found, sites

    def _task(self, fn: Function, call: str, origin: str) -> TraceTask:
        digest = hashlib.sha1(call.encode()).hexdigest()[:12]
        return TraceTask(
            id=f"{fn.key}:{digest}",
            source=fn.source,
            call=call,
            module=fn.module.name,
            package=fn.module.package,
            meta={
                "function": fn.key,
                "module": fn.module.name,
                "inputs": origin,
                "corpus": self.name,
            },
        )

    def tasks(self) -> Iterator[TraceTask]:
        functions = self.functions()
        sites = self._sites
        assert sites is not None
        for fn in functions:
            class_key = f"{fn.module.name}.{fn.class_name}"
            own = sites.of(class_key if fn.kind == "init" else fn.key)
            ctor = sites.of(class_key) if fn.kind == "method" else []
            for call, origin in candidates(fn, own, ctor, self.candidates_per_function, self.seed):
                yield self._task(fn, call, origin)

    def more_tasks(
        self, kept: Mapping[str, list[str]], want: Mapping[str, int]
    ) -> Iterator[TraceTask]:
        by_key = {f.key: f for f in self.functions()}
        for key, n in want.items():
            fn = by_key.get(key)
            if fn is not None and n > 0:
                for call, origin in variants(fn, list(kept.get(key, [])), n, self.seed):
                    yield self._task(fn, call, origin)


def _executor() -> ProcessPoolExecutor:
    """Processes for harvesting (spawned: forking a process with threads is unsafe)."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=context)


def _functions_of(module: Module, max_lines: int) -> list[Function]:
    slicer = _slicer(module.path)
    return module_functions(module, slicer, max_lines) if slicer is not None else []


def _sites_of(module: Module, known: tuple[set[str], set[str]]) -> dict[str, list[Site]]:
    index = SiteIndex(*known)
    source = _read(module.path)
    try:
        tree = ast.parse(source) if source else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    if tree is not None:
        index.scan(tree, module.name, module.package)
    return {key: list(found) for key, found in index.sites.items()}


def _spread(functions: list[Function], n: int) -> list[Function]:
    """``n`` functions spread evenly over the sorted list (so every module is represented)."""
    if n >= len(functions):
        return functions
    step = len(functions) / n
    return [functions[int(i * step)] for i in range(n)]


def stdlib_corpus(**options: object) -> HarvestCorpus:
    """The standard library of this Python; call sites also come from its test suite."""
    root = stdlib_dir()
    tests = root / "test"
    scan = [(tests, "test")] if tests.is_dir() else []
    return HarvestCorpus("stdlib", [(root, "")], scan_only=scan, **options)  # type: ignore[arg-type]


def package_corpus(name: str, **options: object) -> HarvestCorpus:
    """An installed package (``name`` is its import name)."""
    root, prefix = package_dir(name)
    return HarvestCorpus(f"package:{name}", [(root, prefix)], **options)  # type: ignore[arg-type]


def directory_corpus(
    path: str, prefix: str = "", tests: str | None = None, **options: object
) -> HarvestCorpus:
    """Any directory of Python sources; ``tests`` is an extra directory read for call sites."""
    root = Path(path)
    scan = [(Path(tests), "")] if tests else []
    return HarvestCorpus(f"directory:{root.name}", [(root, prefix)], scan_only=scan, **options)  # type: ignore[arg-type]
