"""WHERE conditions from optional filters: the readers' queries take a filter only when given.

A term is ``(condition, value)``: ``value`` None leaves the condition out; otherwise it is bound
to the condition's one ``?``, or, when a tuple, its items to the condition's ``?`` in order
(``IN (?, ?)``, a value compared twice). Conditions are SQL text written in this package, never
built from user input; only values are bound.
"""

from __future__ import annotations

from typing import Any

__all__ = ["conditions"]


def conditions(*terms: tuple[str, Any]) -> tuple[list[str], list[Any]]:
    """The conditions of ``terms`` whose value is not None, and their parameters in order."""
    where: list[str] = []
    params: list[Any] = []
    for condition, value in terms:
        if value is None:
            continue
        where.append(condition)
        if isinstance(value, tuple):
            params.extend(value)
        else:
            params.append(value)
    return where, params
