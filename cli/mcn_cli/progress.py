"""Progress on stderr for long work, only when stderr is a terminal (pipes and logs stay clean)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def _interactive(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def track(items: Iterable[T], stream: TextIO, description: str, total: int | None = None) -> Iterator[T]:
    """Yield `items`, drawing a bar (count, rate) on `stream` if it is a terminal."""
    if not _interactive(stream):
        yield from items
        return
    from tqdm import tqdm

    with tqdm(items, total=total, desc=description, file=stream, leave=False, dynamic_ncols=True) as bar:
        yield from bar


@contextlib.contextmanager
def progress(stream: TextIO, description: str) -> Iterator[None]:
    """One step of unknown length (start-up): a line that says what is happening, then clears."""
    if not _interactive(stream):
        yield
        return
    from tqdm import tqdm

    with tqdm(total=None, desc=description, file=stream, leave=False, bar_format="{desc}… {elapsed}") as bar:
        yield
        bar.update()
