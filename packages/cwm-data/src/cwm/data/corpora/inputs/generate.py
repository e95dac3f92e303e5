"""Candidate calls for one function, from every source of inputs, best sources first.

Order: doctest examples, call sites, then synthesized argument lists (type hints,
then defaults, then how the body uses the parameter, then parameter names, then string
methods called on it, then a generic pool). Each candidate is only a guess: the build
keeps the ones whose trace ran to the end in bounded time without touching files,
network or processes.
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Iterator

from cwm.data.corpora.functions import Function, Param
from cwm.data.corpora.inputs.callsites import Site
from cwm.data.corpora.inputs.values import (
    GENERIC,
    POOLS,
    mutate,
    pools_for_default,
    pools_for_hint,
    pools_for_name,
)

Candidate = tuple[str, str]  # (call expression, where its inputs came from)


def rng_for(key: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _pool(param: Param) -> tuple[list[str], str]:
    for pool, origin in (
        (pools_for_hint(param.annotation), "hint"),
        (pools_for_default(param.default), "default"),
        (POOLS[param.used_as] if param.used_as else [], "usage"),
        (pools_for_name(param.name), "name"),
        (POOLS["str"] if param.string_methods else [], "usage"),
    ):
        if pool:
            return pool, origin
    return GENERIC, "generic"


def synthesize(params: list[Param], rng: random.Random) -> tuple[str, str]:
    """One argument list for ``params`` (source text) and the strongest guide used."""
    parts, origins, skipped = [], set(), False
    for p in params:
        if not p.required and rng.random() < 0.6:
            origins.add("default")
            skipped = skipped or not p.keyword_only
            continue
        pool, origin = _pool(p)
        origins.add(origin)
        value = rng.choice(pool)
        # after a skipped optional parameter, later ones must be passed by name
        parts.append(f"{p.name}={value}" if p.keyword_only or skipped else value)
    for origin in ("hint", "default", "usage", "name", "generic"):
        if origin in origins:
            return ", ".join(parts), origin
    return ", ".join(parts), "default"


def candidates(
    fn: Function, sites: list[Site], ctor_sites: list[Site], n: int, seed: int
) -> list[Candidate]:
    """Up to ``n`` distinct candidate calls of ``fn``."""
    rng = rng_for(fn.key, seed)
    out: dict[str, str] = {}

    def add(call: str, origin: str) -> None:
        if len(out) < n and call not in out:
            out[call] = origin

    ctors = [s.args for s in ctor_sites] or []
    for site in sorted(sites, key=lambda s: s.origin != "doctest"):
        ctor = site.ctor if site.ctor is not None else (rng.choice(ctors) if ctors else None)
        if fn.kind == "method" and ctor is None:
            ctor = _ctor(fn, rng)
        add(fn.call(site.args, ctor), site.origin)
    for _ in range(4 * n):
        if len(out) >= n:
            break
        args, origin = synthesize(fn.params, rng)
        ctor = (rng.choice(ctors) if ctors else _ctor(fn, rng)) if fn.kind == "method" else None
        add(fn.call(args, ctor), origin)
    return list(out.items())


def _ctor(fn: Function, rng: random.Random) -> str:
    if not fn.ctor_params or all(not p.required for p in fn.ctor_params):
        return ""
    return synthesize(fn.ctor_params, rng)[0]


def variants(fn: Function, calls: list[str], n: int, seed: int) -> Iterator[Candidate]:
    """Up to ``n`` new calls derived from calls that worked, by mutating their literal arguments."""
    rng = rng_for(fn.key + ":mutate", seed)
    seen = set(calls)
    made = 0
    for _ in range(8 * n):
        if made >= n or not calls:
            return
        base = rng.choice(calls)
        prefix, args = _split_call(base)
        if args is None:
            continue
        new = mutate(args, rng)
        if new is None:
            continue
        call = f"{prefix}({new})"
        if call not in seen:
            seen.add(call)
            made += 1
            yield call, "mutation"


def _split_call(call: str) -> tuple[str, str | None]:
    """``"C(1).m('a', 2)"`` -> ``("C(1).m", "'a', 2")``: the outermost call's arguments."""
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        return call, None
    if not isinstance(node, ast.Call) or (not node.args and not node.keywords):
        return call, None
    inner = ast.Call(func=ast.Name("f", ast.Load()), args=node.args, keywords=node.keywords)
    return ast.unparse(node.func), ast.unparse(inner)[2:-1]
