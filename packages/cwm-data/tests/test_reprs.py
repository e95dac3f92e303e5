"""Repr text of trace values: exact when short, bounded and marked when long, never failing."""

from __future__ import annotations

import random

from cwm.data.trace.reprs import DOTS_REPR, TRUNCATED, local_repr, value_repr


def test_short_values_are_their_exact_repr():
    rng = random.Random(0)
    atoms = [0, -7, 2.5, "ab", "x'y\"z", b"\x00b", None, True, (), (1,), frozenset({3}), set(), 1j]
    for _ in range(2000):
        value = [
            rng.choice([*atoms, {"k": [1, (2,)]}, [[1], {2: 3}]]) for _ in range(rng.randint(0, 50))
        ]
        if rng.random() < 0.5:
            value = {i: v for i, v in enumerate(value) if not isinstance(v, list | dict | set)}
        assert value_repr(value, 100_000) == repr(value)


def test_long_values_are_cut_at_the_limit_and_marked():
    for value in [
        "x" * 10_000,
        list(range(100_000)),
        {i: str(i) for i in range(50_000)},
        b"y" * 5000,
    ]:
        text = value_repr(value, 50)
        assert text == repr(value)[:50] + TRUNCATED


def test_huge_values_cost_as_little_as_small_ones():
    # a small container holding huge items must not build their full repr
    huge = ["a" * 50_000_000, list(range(5_000_000))]
    assert value_repr(huge, 80).endswith(TRUNCATED)
    assert len(value_repr(huge, 80)) == 80 + len(TRUNCATED)


def test_recursive_containers_show_ellipses_like_python():
    a: list = [1]
    a.append(a)
    d: dict = {}
    d["self"] = d
    assert value_repr(a, 1000) == repr(a) == "[1, [...]]"
    assert value_repr(d, 1000) == repr(d)
    long_recursive = [*list(range(200)), a]
    long_recursive.append(long_recursive)
    assert value_repr(long_recursive, 10_000) == repr(long_recursive)


class Broken:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


class Endless:
    def __repr__(self) -> str:
        return repr(self)


class Dots:
    def __repr__(self) -> str:
        return ".."


def test_reprs_that_fail_are_named_not_raised():
    assert value_repr(Broken(), 100) == "<unreprable Broken: ValueError>"
    assert value_repr(Endless(), 100) == "<unreprable Endless: RecursionError>"
    assert value_repr(10**5000, 100) == "<unreprable int: ValueError>"  # past int's digit limit


def test_a_local_never_records_the_reserved_dots():
    assert local_repr(Dots(), 100) == DOTS_REPR
    assert value_repr(Dots(), 100) == ".."  # a return value is never abbreviated, so it may be ".."
