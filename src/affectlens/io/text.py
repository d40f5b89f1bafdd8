"""Plain text inputs: one text per line of a UTF-8 file (or stdin)."""

from __future__ import annotations

import re
import sys

from affectlens.io.image import InputError, check_file

#: Only a line feed (with an optional carriage return before it) ends a line: a stray ``\r``,
#: form feed or other Unicode line break inside a text stays part of it.
_LINE_END = re.compile(r"\r?\n")


def split_lines(text: str) -> list[str]:
    lines = _LINE_END.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_lines(name: str) -> list[str]:
    """The lines of a UTF-8 text file (``-`` = stdin); :class:`InputError` naming it if unreadable."""
    if name == "-":
        return split_lines(sys.stdin.read())
    path = check_file(name, "a text file")
    try:
        return split_lines(path.read_bytes().decode("utf-8-sig"))  # no universal newlines: \r stays
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
