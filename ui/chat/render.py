"""Markdown into a QTextDocument: rendered blocks, code styling, and the streamed answer.

`MarkdownStream` must cost the same per update for a long answer as for a short one, so the answer is
never re-rendered whole while it streams. `explorer.chat.markdown.MarkdownSplitter` cuts the streamed
answer into complete Markdown blocks (up to a blank line outside a code fence, or up to a closing
fence) and an unfinished tail. Complete blocks are rendered once as Markdown and inserted at the end
of the answer's document; the tail is shown as plain text after them and replaced on each update
(appended to when it only grew). `finish` renders the tail as Markdown too. Only when a block began
indented (a list item's continuation) or the answer defines link references, which render right only
when parsed with what came before, does `finish` render the whole answer once more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
    QTextFormat,
)

from explorer.chat.markdown import MarkdownSplitter
from ui import theme

# The light theme's colours (the names older callers import); rendering reads the theme's colours in effect.
CODE_BACKGROUND = theme.LIGHT["CODE_BACKGROUND"]
INLINE_CODE_BACKGROUND = theme.LIGHT["INLINE_CODE_BACKGROUND"]
LINK_COLOR = theme.LIGHT["LINK_COLOR"]

# Raw HTML in an answer is shown as text: a model that writes "<div>" or a stray "</think>" outside a
# code block means the characters, and Qt would otherwise swallow them as markup.
MARKDOWN_FEATURES = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | QTextDocument.MarkdownFeature.MarkdownNoHTML
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:", re.MULTILINE)  # [ref]: url


def _is_code_block(block: QTextBlock) -> bool:
    fmt = block.blockFormat()
    return fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.hasProperty(
        QTextFormat.Property.BlockCodeLanguage)  # indented code blocks have only the language


def _code_char_format() -> QTextCharFormat:
    fmt = QTextCharFormat()
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    fmt.setFontFamilies([*font.families(), "monospace"])
    fmt.setFontFixedPitch(True)
    return fmt


def _code_block_format() -> QTextBlockFormat:
    fmt = QTextBlockFormat()
    fmt.setBackground(QColor(theme.CODE_BACKGROUND))
    fmt.setNonBreakableLines(True)
    return fmt


def style_code(doc: QTextDocument) -> None:
    """Code blocks and inline code get a subtle background, links our colour.

    (The Markdown importer colours links from the application palette, not the view's.)
    """
    code_bg = _code_block_format()
    inline = QTextCharFormat()
    inline.setBackground(QColor(theme.INLINE_CODE_BACKGROUND))
    link = QTextCharFormat()
    link.setForeground(QColor(theme.LINK_COLOR))
    block = doc.firstBlock()
    while block.isValid():
        cursor = QTextCursor(block)
        if _is_code_block(block):
            cursor.mergeBlockFormat(code_bg)
        else:
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                fmt = frag.charFormat()
                extra = inline if fmt.fontFixedPitch() else link if fmt.isAnchor() else None
                if frag.isValid() and extra is not None:
                    cursor.setPosition(frag.position())
                    cursor.setPosition(frag.position() + frag.length(), QTextCursor.MoveMode.KeepAnchor)
                    cursor.mergeCharFormat(extra)
                it += 1
        block = block.next()


def markdown_fragment(markdown: str) -> QTextDocumentFragment:
    """`markdown` rendered and styled, as a fragment that starts with a block separator.

    Inserting a fragment merges its first block into the block at the cursor, which keeps its own
    format; with the separator in front, every rendered block keeps its format (code, list, heading).
    """
    doc = QTextDocument()
    doc.setUndoRedoEnabled(False)
    doc.setMarkdown(markdown, MARKDOWN_FEATURES)
    style_code(doc)
    cursor = QTextCursor(doc)
    cursor.insertBlock()
    cursor.setPosition(0)
    cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
    return QTextDocumentFragment(cursor)


@dataclass(frozen=True)
class _Tail:
    """The unfinished tail as displayed: plain text, then the open code block's lines (None: no fence)."""

    plain: str = ""
    code: str | None = None

    def extends(self, shown: _Tail) -> bool:
        """Whether this only adds text at the end of `shown` (so it can be appended)."""
        if shown.code is None:
            return self.plain.startswith(shown.plain) if self.code is None else self.plain == shown.plain
        return self.code is not None and self.plain == shown.plain and self.code.startswith(shown.code)


def display_tail(tail: str, fence_start: int | None) -> _Tail:
    """Trailing newlines wait for the next line; an open fence shows its code without the ``` line."""
    if fence_start is None:
        return _Tail(tail.rstrip("\n"))
    body = tail.index("\n", fence_start) + 1  # the fence line is complete, or it would not count
    return _Tail(tail[:fence_start].rstrip("\n"), tail[body:].rstrip("\n"))


_LINE_BREAKS = re.compile("\r\n|[\r\n\u2029]")


def insert_lines(cursor: QTextCursor, text: str, char_fmt: QTextCharFormat) -> None:
    """Insert `text`; each line break starts a paragraph of the default format.

    `insertText` would give a new paragraph a copy of the current one's format, which for the last
    piece of a cut paragraph (`DocView.split_long_last_block`) carries the cut's mark and direction.
    """
    first, *lines = _LINE_BREAKS.split(text)
    cursor.insertText(first, char_fmt)
    for line in lines:
        cursor.insertBlock(QTextBlockFormat(), char_fmt)
        if line:
            cursor.insertText(line, char_fmt)


class MarkdownStream:
    """Streams Markdown into a document: complete blocks rendered once, the unfinished tail as plain text."""

    def __init__(self, doc: QTextDocument) -> None:
        self.doc = doc
        self.splitter = MarkdownSplitter()
        self._committed_end = 0  # document position right after the rendered Markdown
        self._has_markdown = False
        self._shown = _Tail()  # the tail as it is in the document
        self.needs_full_render = False  # blocks rendered apart may not look as the whole would
        self._fed: list[str] = []  # the Markdown given so far
        self._plain = QTextCharFormat()
        self._code = _code_char_format()

    def feed(self, text: str) -> None:
        self._fed.append(text)
        committed = self.splitter.feed(text)
        tail = display_tail(self.splitter.tail, self.splitter.fence_start)
        cursor = QTextCursor(self.doc)
        cursor.beginEditBlock()
        if committed:
            self._remove_tail(cursor)
            if committed.strip():
                self._insert_markdown(cursor, committed)
        if tail != self._shown:
            if tail.extends(self._shown):
                self._append_tail(cursor, tail)
            else:
                self._remove_tail(cursor)
                self._append_tail(cursor, tail)
        cursor.endEditBlock()

    def _remove_tail(self, cursor: QTextCursor) -> None:
        if self.doc.characterCount() - 1 <= self._committed_end:
            return
        cursor.setPosition(self._committed_end)
        # Removing the separator after an empty block gives that block the next one's format: keep it.
        block_fmt, char_fmt = cursor.blockFormat(), cursor.blockCharFormat()
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        if self._has_markdown:
            cursor.setBlockFormat(block_fmt)
            cursor.setBlockCharFormat(char_fmt)
        else:
            cursor.setBlockFormat(QTextBlockFormat())
            cursor.setBlockCharFormat(self._plain)
        self._shown = _Tail()

    def _renders_apart(self, markdown: str) -> bool:
        """Whether `markdown`, rendered after what is there, may look other than the whole would: it may
        go on a list item (indented 2 columns or more: no list item's content starts before column 2),
        or it defines link references."""
        indented = markdown.startswith(("  ", "\t", " \t"))
        return (self._has_markdown and indented) or bool(_LINK_DEF.search(markdown))

    def _insert_markdown(self, cursor: QTextCursor, markdown: str) -> None:
        if self._renders_apart(markdown):
            self.needs_full_render = True
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertFragment(markdown_fragment(markdown))
        if not self._has_markdown:
            # The fragment began with a block separator, which left the document's empty first block.
            # Deleting that separator keeps the format of the block after it (a list item, a code block).
            cursor.setPosition(0)
            cursor.deleteChar()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self._committed_end = cursor.position()
        self._has_markdown = True

    def _append_tail(self, cursor: QTextCursor, tail: _Tail) -> None:
        """Add what `tail` has beyond what is shown: plain text, then code on a code background."""
        shown = self._shown
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if len(tail.plain) > len(shown.plain):
            if not shown.plain and self._has_markdown:
                cursor.insertBlock(QTextBlockFormat(), self._plain)
            insert_lines(cursor, tail.plain[len(shown.plain):], self._plain)
        if tail.code is not None:
            if shown.code is None:
                if tail.plain or self._has_markdown:
                    cursor.insertBlock(_code_block_format(), self._code)
                else:
                    cursor.setBlockFormat(_code_block_format())
            cursor.insertText(tail.code[len(shown.code or ""):], self._code)
        self._shown = tail

    @property
    def tail_start(self) -> int:
        """Where the unfinished tail begins in the document (the rendered Markdown ends there)."""
        return self._committed_end

    def markdown(self) -> str:
        return "".join(self._fed)

    def finish(self) -> None:
        """Render the unfinished tail as Markdown too (an open code fence shows as a code block).

        If pieces rendered apart may look other than the whole, render the whole instead.
        """
        rest = self.splitter.tail
        if self.needs_full_render or (rest.strip() and self._renders_apart(rest)):
            self.render_all(self.markdown())
            return
        self.splitter = MarkdownSplitter()
        cursor = QTextCursor(self.doc)
        cursor.beginEditBlock()
        self._remove_tail(cursor)
        if rest.strip():
            self._insert_markdown(cursor, rest)
        cursor.endEditBlock()

    def render_all(self, markdown: str) -> None:
        """Replace everything with `markdown` rendered in one go."""
        self._fed = [markdown]
        self.doc.setMarkdown(markdown, MARKDOWN_FEATURES)
        style_code(self.doc)
        self.splitter = MarkdownSplitter()
        self._shown = _Tail()
        self.needs_full_render = False
        self._has_markdown = bool(markdown.strip())
        self._committed_end = self.doc.characterCount() - 1
