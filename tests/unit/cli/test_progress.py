"""Progress goes to stderr only when it is a terminal: pipes, files and logs get none of it."""

from __future__ import annotations

import io

from mcn_cli.progress import progress, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_progress_when_not_a_terminal() -> None:
    stream = io.StringIO()
    assert list(track(iter(range(5)), stream, "reading")) == [0, 1, 2, 3, 4]
    with progress(stream, "starting"):
        pass
    assert stream.getvalue() == ""


def test_progress_on_a_terminal_and_items_unchanged() -> None:
    stream = Terminal()
    assert list(track(iter(range(5)), stream, "reading fees")) == [0, 1, 2, 3, 4]
    with progress(stream, "deploying template.yaml"):
        pass
    assert "reading fees" in stream.getvalue() and "deploying template.yaml" in stream.getvalue()
