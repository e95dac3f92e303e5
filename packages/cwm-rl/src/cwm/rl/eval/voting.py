"""Majority voting: the answer most samples agree on, under any notion of "the same"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def vote_classes(
    answers: Sequence[T | None], same: Callable[[T, T], bool] | None = None
) -> list[list[int]]:
    """Indices of the answers grouped into classes of equal answers, largest class first
    (ties: the class whose first member came first); ``None`` answers are left out."""
    classes: list[list[int]] = []
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for members in classes:
            first = answers[members[0]]
            assert first is not None
            if same(first, answer) if same else first == answer:
                members.append(i)
                break
        else:
            classes.append([i])
    return sorted(classes, key=lambda members: (-len(members), members[0]))


def majority_index(
    answers: Sequence[T | None], same: Callable[[T, T], bool] | None = None
) -> int | None:
    """The index of the first answer of the largest class; None when no sample answered."""
    classes = vote_classes(answers, same)
    return classes[0][0] if classes else None
