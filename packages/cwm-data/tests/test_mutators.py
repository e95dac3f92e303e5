"""Every mutator changes behaviour in the intended way and keeps the module parseable."""

from __future__ import annotations

import ast

import pytest

from cwm.core.plugins import registry
from cwm.core.protocols import Mutator
from cwm.data.forager.mutators import MUTATORS

SOURCE = '''def f(a, b, items):
    """Docstring with 1 < 2."""
    total = 0
    for x in items:
        total += x * 2
    if a < b and b != 3:
        return max(a, b) - total
    return a is None or 5 in items
'''

EXPECTED = {
    "flip-binary-operator": ["total -= x * 2", "total += x // 2", "max(a, b) + total"],
    "flip-comparison": ["if a <= b and", "b == 3", "a is not None", "5 not in items"],
    "flip-boolean-operator": ["a < b or b != 3", "a is None and 5 in items"],
    "negate-condition": ["if not (a < b and b != 3):"],
    "remove-condition": ["if True:"],
    "remove-loop": ["    pass\n    if a < b"],
    "remove-assignment": ["    pass\n    for x"],
    "change-constant": ["total = 1", "x * 3", "b != 4", "6 in items"],
    "swap-arguments": ["max(b, a)"],
}


def test_registry_lists_every_mutator() -> None:
    assert set(registry("mutator").names()) >= set(MUTATORS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mutations(name: str) -> None:
    mutator = registry("mutator").create(name)
    assert isinstance(mutator, Mutator)  # what the kinds table promises
    mutants = [m.apply(SOURCE) for m in mutator.mutations(SOURCE)]
    assert mutants, name
    for mutant in mutants:
        ast.parse(mutant)
        assert mutant != SOURCE and '"""Docstring with 1 < 2."""' in mutant
    for snippet in EXPECTED[name]:
        assert any(snippet in m for m in mutants), (name, snippet)


def test_one_change_per_mutant() -> None:
    for name in MUTATORS:
        for m in MUTATORS[name]().mutations(SOURCE):
            changed = [a != b for a, b in zip(SOURCE.splitlines(), m.apply(SOURCE).splitlines())]
            assert sum(changed) >= 1 and (name in ("remove-loop",) or sum(changed) == 1), (name, m)
