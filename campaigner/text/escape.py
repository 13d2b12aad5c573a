"""Text that comes from input files or the provider, made safe where it is shown: a terminal, markdown.

Pure functions, open to every package (like :mod:`campaigner.errors`). Every view that prints such text
(the plan's text and markdown, error lines, summary.md) goes through one of them:

- :func:`for_terminal` escapes control characters, so that a CSV value or a scenario name cannot move
  the cursor, recolour the terminal, ring its bell, rewrite a line (CR), plant a hyperlink (OSC 8) or
  reorder what is shown (bidirectional overrides): each becomes a visible ``\\x1b``-style escape;
- :func:`for_markdown` puts text on one line with markdown and HTML escaped and ``@mentions`` and
  ``#123`` references defused (a zero-width space after the sign, as dependency bots do).
"""

from __future__ import annotations

import re
from typing import Final

_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    """``text`` with every control, format and bidirectional-override character written as an escape."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape_one, text)


def clip(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space as one space), cut to ``limit`` characters with ``…``."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MD_ESCAPES: Final = str.maketrans({**{c: "\\" + c for c in "\\`*_[]|#~"}, "<": "&lt;", ">": "&gt;", "&": "&amp;"})
_MENTION: Final = re.compile(r"(?<![\w`])@(?=[\w-])")
_REFERENCE: Final = re.compile(r"\\#(?=\w)")


def for_markdown(text: str, limit: int = 200) -> str:
    """Plain text for markdown (a table cell, a paragraph): one line, cut, nothing in it formats or pings."""
    escaped = for_terminal(clip(text, limit)).translate(_MD_ESCAPES)
    # '@name' and '#123' (escaped as '\\#123') become inert with a zero-width space after the sign.
    escaped = _MENTION.sub("@&#8203;", escaped)
    return _REFERENCE.sub(lambda _: "\\#&#8203;", escaped)


def markdown_code(text: str, limit: int = 120) -> str:
    """Text as a code span on one line (no formatting, no mentions, no HTML), empty for empty text."""
    text = for_terminal(clip(text, limit)).replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text else ""


def fence_for(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in ``lines``, so that none can close it early."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)
