"""Where Markdown code fences open and close, and where streamed Markdown can be cut into blocks.

One rule, used by the chat view (to know which blocks of a streamed answer are complete) and by the
Markdown export (to close a code block that a stopped answer left open):

- A fence is a run of at least three backticks or tildes. A backtick fence's info string has no
  backticks (```` ``` `x` ```` is inline code, not a fence).
- As in CommonMark, an opening fence may be indented up to 3 columns (a tab counts to the next
  multiple of 4); at 4 or more the line is an indented code block. Inside a list item the
  indentation counts from where the item's content starts ("1. " puts it at column 3), so a fence
  indented with its list item still opens.
- Only a run of the same character, at least as long, with nothing after it but spaces, closes
  the fence, indented up to 3 columns from where the fence's list item (or the page) begins. A
  non-blank line indented less than that ends the list item, and the code block with it.

Block quotes and HTML blocks are not followed: a fence inside a quote does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Fence", "MarkdownSplitter", "close_open_fence", "committed_length", "fence_opens"]

_LIST_ITEM = re.compile(r"([-+*]|\d{1,9}[.)])(?:([ \t]+)(.*)|$)")


@dataclass(frozen=True)
class Fence:
    """An open code fence: its character, its length, and the column its container starts at."""

    char: str
    length: int
    base: int = 0  # 0 on the page; a list item's content column inside one

    def closes(self, col: int, rest: str) -> bool:
        """Whether a line indented `col` columns, with `rest` after the indentation, closes the fence."""
        s = rest.rstrip(" \t\r")
        return col - self.base <= 3 and len(s) >= self.length and s == self.char * len(s)


def _indent(line: str) -> tuple[int, str]:
    """(columns of leading whitespace, tabs to the next multiple of 4; the rest of the line)."""
    col = 0
    for i, ch in enumerate(line):
        if ch == " ":
            col += 1
        elif ch == "\t":
            col += 4 - col % 4
        else:
            return col, line[i:]
    return col, ""


def fence_opens(rest: str) -> tuple[str, int] | None:
    """(char, length) when `rest` (a line without its indentation) starts a ``` or ~~~ fence."""
    if not rest.startswith(("```", "~~~")):
        return None
    ch = rest[0]
    n = len(rest) - len(rest.lstrip(ch))
    if ch == "`" and "`" in rest[n:]:
        return None  # a backtick fence's info string has no backticks (this is inline code)
    return ch, n


class MarkdownSplitter:
    """Incremental `committed_length`: `feed` streamed text, get back the newly complete blocks.

    A complete line ends with "\\n". The text is committed up to the end of the last blank line that
    is outside a code fence, or up to the end of a closing fence line. `tail` holds the rest;
    `fence_start` is where in `tail` the open code fence starts and `fence` what it is (both None
    when no fence is open). Work per `feed` is proportional to the new text plus the unfinished
    line, not the whole text.
    """

    def __init__(self) -> None:
        self.tail = ""
        self.fence_start: int | None = None
        self.fence: Fence | None = None
        self._scan = 0  # index in tail of the first line not yet looked at
        self._lists: list[int] = []  # content columns of the open list items, outermost first
        self._after_blank = True

    def feed(self, text: str) -> str:
        self.tail += text
        commit = 0
        tail = self.tail
        while True:
            nl = tail.find("\n", self._scan)
            if nl < 0:
                break
            if self._line(tail[self._scan:nl]):
                commit = nl + 1
            self._scan = nl + 1
        if not commit:
            return ""
        self.tail = tail[commit:]
        self._scan -= commit
        if self.fence_start is not None:
            self.fence_start -= commit
        return tail[:commit]

    def _line(self, line: str) -> bool:
        """Take in one complete line; True when the text is complete up to its end."""
        col, rest = _indent(line)
        blank = not rest.strip()
        fence = self.fence
        if fence is not None:
            if fence.closes(col, rest):
                self.fence = self.fence_start = None
                self._after_blank = False
                return True
            if blank or col >= fence.base:
                return False  # a line of code
            self.fence = self.fence_start = None  # less indented than its list item: both end here
        if blank:
            self._after_blank = True
            return True
        item = _LIST_ITEM.match(rest)
        opens = fence_opens(rest)
        if self._after_blank or item is not None or opens is not None:
            while self._lists and col < self._lists[-1]:
                self._lists.pop()  # the line is not (lazily) in that item
        base = self._lists[-1] if self._lists else 0
        if opens is not None and col - base <= 3:
            self.fence, self.fence_start = Fence(*opens, base), self._scan
        elif item is not None and col - base <= 3:
            marker, spaces, content = item.group(1), item.group(2) or "", item.group(3) or ""
            gap = len(spaces.expandtabs(4))
            self._lists.append(col + len(marker) + (gap if content.strip() and gap <= 4 else 1))
        self._after_blank = False
        return False


def committed_length(text: str) -> int:
    """How much of streamed Markdown `text` is complete blocks, safe to render for good."""
    splitter = MarkdownSplitter()
    splitter.feed(text)
    return len(text) - len(splitter.tail)


def close_open_fence(text: str) -> str:
    """`text` with a closing fence added when a code block in it is left open (a stopped answer),
    so the block does not swallow what comes after it. The fence is indented as its list item."""
    splitter = MarkdownSplitter()
    splitter.feed(text + "\n")
    fence = splitter.fence
    if fence is None:
        return text
    return text.rstrip("\n") + "\n" + " " * fence.base + fence.char * fence.length
