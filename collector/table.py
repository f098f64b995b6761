"""Tables for people in a terminal (``rich``), and the cell formats they share.

Any command that prints rows for people uses this module, so every table fits the terminal the
same way: the widest column that can give way (a path, a title, a detail) is shortened, paths
from the left or the middle so the file name stays, other text at the end with "…".
Durations carry units (``850 ms``, ``1.05 s``, ``2m 05s``) and token counts are grouped.

Widths: the terminal's when stdout is one, ``COLUMNS`` when set, else wide (160) so a pipe into
``grep`` or a file keeps whole values.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = [
    "Column",
    "format_count",
    "format_duration",
    "format_percent",
    "output_width",
    "render_table",
    "shorten_path",
    "shorten_text",
]

_PIPE_WIDTH = 160
_GAP = 2  # spaces between columns
_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Column:
    """One column: the row key, its header, how a value becomes text and how it may shrink."""

    key: str
    header: str = ""
    fmt: Callable[[Any], str] | None = None
    justify: str = "left"  # left | right
    shrink: str = ""  # "" (never) | "path" (keep the file name) | "text" (cut the end)
    min_width: int = 8
    drop: int = 0  # on a narrow terminal columns go, highest first (0: always shown)

    @property
    def title(self) -> str:
        """The header text (the key when no header is given)."""
        return self.header or self.key


def output_width(out: TextIO) -> int:
    """Columns available on ``out`` (see the module docstring)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 20:
        return int(columns)
    if out.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return _PIPE_WIDTH


def render_table(
    columns: Sequence[Column], rows: Sequence[dict[str, Any]], out: TextIO, width: int | None = None
) -> None:
    """Print ``rows`` as a table of ``columns`` fitted to ``width`` (default: ``out``'s)."""
    width = width or output_width(out)
    columns, cells = _narrow(columns, [[_text(c, row) for c in columns] for row in rows], width)
    cells = _fit(columns, cells, width)
    natural = sum(max([len(c.title), *(len(line[i]) for line in cells)])
                  for i, c in enumerate(columns)) + _GAP * (len(columns) - 1)  # fmt: skip
    table = Table(box=box.SIMPLE_HEAD if out.isatty() else None, show_edge=False,
                  pad_edge=False, padding=(0, _GAP // 2), header_style="bold")  # fmt: skip
    for column in columns:
        table.add_column(column.title, justify="right" if column.justify == "right" else "left",
                         no_wrap=True, overflow="ignore")  # fmt: skip
    for line in cells:
        table.add_row(*line)
    console = Console(file=out, width=max(width, natural, 20), highlight=False, soft_wrap=True,
                      emoji=False, markup=False)  # fmt: skip
    with console.capture() as captured:
        console.print(table)
    out.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def _narrow(
    columns: Sequence[Column], cells: list[list[str]], width: int
) -> tuple[list[Column], list[list[str]]]:
    """Drop the droppable columns (highest ``drop`` first) while even the shortest cells
    would not fit ``width``."""
    keep = list(range(len(columns)))

    def least() -> int:
        sizes = []
        for i in keep:
            c = columns[i]
            full = max([len(c.title), *(len(line[i]) for line in cells)])
            sizes.append(min(full, max(c.min_width, len(c.title))) if c.shrink else full)
        return sum(sizes) + _GAP * (len(keep) - 1)

    while least() > width:
        droppable = [i for i in keep if columns[i].drop]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    return [columns[i] for i in keep], [[line[i] for i in keep] for line in cells]


def _text(column: Column, row: dict[str, Any]) -> str:
    value = row.get(column.key)
    if column.fmt is not None:
        return column.fmt(value)
    if value is None:
        return ""
    return " ".join(str(value).split())


def _fit(columns: Sequence[Column], cells: list[list[str]], width: int) -> list[list[str]]:
    """Shorten the shrinkable columns until a line fits ``width``: always the widest one first,
    down to the next widest, so long values share the cut instead of one column losing all."""
    widths = [max([len(c.title), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    floors = [max(c.min_width, len(c.title)) for c in columns]
    target = list(widths)
    excess = sum(widths) + _GAP * (len(columns) - 1) - width
    while excess > 0:
        open_ = [i for i, c in enumerate(columns) if c.shrink and target[i] > floors[i]]
        if not open_:
            break
        widest = max(open_, key=lambda i: target[i])
        others = [target[i] for i in open_ if i != widest]
        step = min(excess, target[widest] - max([floors[widest], *others]) or 1)
        step = min(step, target[widest] - floors[widest])
        target[widest] -= step
        excess -= step
    for i, column in enumerate(columns):
        if target[i] < widths[i]:
            cut = shorten_path if column.shrink == "path" else _shorten_cell
            for line in cells:
                line[i] = cut(line[i], target[i])
    return cells


def _shorten_cell(text: str, width: int) -> str:
    """A text cell; a lone path in it is shortened as a path (its file name kept)."""
    if text.startswith(("/", "~")) and " " not in text:
        return shorten_path(text, width)
    return shorten_text(text, width)


def shorten_text(text: str, width: int) -> str:
    """``text`` cut at the end to ``width`` characters, "…" marking the cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + _ELLIPSIS


def shorten_path(path: str, width: int) -> str:
    """``path`` in at most ``width`` characters, the file name kept whole where it fits.

    The first component stays when there is room (``/home/…/src/app.py``), then as many
    trailing components as fit; a name longer than ``width`` is cut in its middle.
    """
    if len(path) <= width:
        return path
    parts = path.split("/")
    name = parts[-1]
    if len(name) + 2 > width:
        return _middle(name, width)
    tail, first = name, len(parts) - 1  # parts[first:] are in tail
    while first > 1 and len(parts[first - 1]) + 1 + len(tail) + 2 <= width:
        first -= 1
        tail = f"{parts[first]}/{tail}"
    head = "/".join(parts[:2]) if path.startswith("/") else parts[0]
    if first > 2 and len(head) + 3 + len(tail) <= width:
        return f"{head}/{_ELLIPSIS}/{tail}"
    return f"{_ELLIPSIS}/{tail}"


def _middle(text: str, width: int) -> str:
    if width <= 1:
        return _ELLIPSIS[:width]
    left = (width - 1) // 2
    right = width - 1 - left
    return text[:left] + _ELLIPSIS + (text[-right:] if right else "")


def format_duration(ms: Any) -> str:
    """Milliseconds with a unit: ``850 ms``, ``1.05 s``, ``2m 05s``, ``1h 02m``; "" for None."""
    if ms is None:
        return ""
    value = float(ms)
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_count(value: Any) -> str:
    """A token count grouped by thousands (``1,234,567``); "" for None."""
    if value is None:
        return ""
    return f"{int(value):,}"


def format_percent(value: Any) -> str:
    """A share in 0..1 as a percentage (``12.5%``); "" for None."""
    if value is None:
        return ""
    return f"{float(value) * 100:.1f}%"
