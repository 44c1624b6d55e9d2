"""The transcript of one chat pane: user bubbles and streamed assistant messages.

The chat driver calls the view on the GUI thread at most ~30 times a second per pane. Each update
must cost the same for a long answer as for a short one, so the answer is never re-rendered whole
while it streams. `MarkdownSplitter` cuts the streamed answer into complete Markdown blocks (up to a
blank line outside a code fence, or up to a closing fence) and an unfinished tail. Complete blocks
are rendered once as Markdown and inserted at the end of the answer's document; the tail is shown
as plain text after them and replaced on each update (appended to when it only grew). `finish`
renders the tail as Markdown too. Only when a block began indented (a list item's continuation) or
the answer defines link references, which render right only when parsed with what came before,
does `finish` render the whole answer once more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QMargins, QMimeData, QRect, QSize, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFontDatabase,
    QPaintEvent,
    QPalette,
    QRegion,
    QResizeEvent,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
    QTextFormat,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractSlider,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QScrollArea,
    QScrollBar,
    QSizePolicy,
    QStyle,
    QStyleOptionSlider,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetItem,
)

from explorer.chat.conversation import Message, MessageStats
from ui import theme
from ui.fmt import format_tps

CODE_BACKGROUND = "#f1f3f6"
INLINE_CODE_BACKGROUND = "#eceff3"
LINK_COLOR = "#3b4fc4"
THINKING_RULE_COLOR = "#e3e6eb"
WAITING_TEXT = "waiting…"
BOTTOM_SLACK_PX = 24  # "at the bottom" when the scroll bar is within this of its end

_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
# Raw HTML in an answer is shown as text: a model that writes "<div>" or a stray "</think>" outside a
# code block means the characters, and Qt would otherwise swallow them as markup.
_MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | QTextDocument.MarkdownFeature.MarkdownNoHTML
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:", re.MULTILINE)  # [ref]: url
_CONTINUES = QTextFormat.Property.UserProperty + 1  # a block that goes on the line of the one before
_PLAIN_CHARS = str.maketrans({"\u2029": "\n", "\u2028": "\n", "\u00a0": " ", "\ufdd0": "\n", "\ufdd1": "\n"})


# --- splitting streamed Markdown (no Qt) ----------------------------------------------------------


def _fence_open(line: str) -> tuple[str, int] | None:
    """(char, length) when `line` opens a ``` or ~~~ code fence.

    Indentation is not limited to three spaces as in CommonMark: fences inside list items are often
    indented further, and taking a line for a fence only delays committing, which is always safe.
    """
    s = line.lstrip(" \t")
    if not s.startswith(("```", "~~~")):
        return None
    ch = s[0]
    n = len(s) - len(s.lstrip(ch))
    if ch == "`" and "`" in s[n:]:
        return None  # a backtick fence's info string has no backticks (this is inline code)
    return ch, n


def _fence_closes(line: str, fence: tuple[str, int]) -> bool:
    ch, n = fence
    s = line.strip(" \t\r")
    return len(s) >= n and s == ch * len(s)


class MarkdownSplitter:
    """Incremental `committed_length`: `feed` streamed text, get back the newly complete blocks.

    A complete line ends with "\\n". The text is committed up to the end of the last blank line that
    is outside a code fence, or up to the end of a closing fence line. `tail` holds the rest;
    `fence_start` is where in `tail` the open code fence starts (None when no fence is open).
    Work per `feed` is proportional to the new text plus the unfinished line, not the whole text.
    """

    def __init__(self) -> None:
        self.tail = ""
        self.fence_start: int | None = None
        self._fence: tuple[str, int] | None = None
        self._scan = 0  # index in tail of the first line not yet looked at

    def feed(self, text: str) -> str:
        self.tail += text
        commit = 0
        tail = self.tail
        while True:
            nl = tail.find("\n", self._scan)
            if nl < 0:
                break
            line = tail[self._scan:nl]
            if self._fence is None:
                opened = _fence_open(line)
                if opened is not None:
                    self._fence, self.fence_start = opened, self._scan
                elif not line.strip():
                    commit = nl + 1
            elif _fence_closes(line, self._fence):
                self._fence = self.fence_start = None
                commit = nl + 1
            self._scan = nl + 1
        if not commit:
            return ""
        self.tail = tail[commit:]
        self._scan -= commit
        if self.fence_start is not None:
            self.fence_start -= commit
        return tail[:commit]


def committed_length(text: str) -> int:
    """How much of streamed Markdown `text` is complete blocks, safe to render for good."""
    splitter = MarkdownSplitter()
    splitter.feed(text)
    return len(text) - len(splitter.tail)


# --- text for stats ---------------------------------------------------------------------------------

STOP_TEXT = {"stop": "end of answer", "length": "max tokens reached", "stopped": "stopped", "error": "error"}


def _seconds(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def stats_text(stats: MessageStats) -> str:
    """'TTFT 0.02 s · 412 tok/s · 96 tokens (40 thinking) · stopped'; unknown figures are left out."""
    parts: list[str] = []
    if stats.ttft_s > 0:
        parts.append(f"TTFT {_seconds(stats.ttft_s)}")
    if stats.tokens_per_s > 0:
        parts.append(format_tps(stats.tokens_per_s))
    tokens = f"{stats.n_tokens} token{'' if stats.n_tokens == 1 else 's'}"
    if stats.thinking_tokens:
        tokens += f" ({stats.thinking_tokens} thinking)"
    parts.append(tokens)
    stop = STOP_TEXT.get(stats.stop_reason, stats.stop_reason)
    if stats.stop_reason == "error" and stats.message:
        stop = f"error: {stats.message}"
    if stop:
        parts.append(stop)
    if stats.budget_forced:
        parts.append("thinking budget reached")
    return " · ".join(parts)


def thought_text(stats: MessageStats | None) -> str:
    """The thinking header once the message ended: 'Thought · 40 tokens'."""
    if stats is None or stats.thinking_tokens <= 0:
        return "Thought"
    n = stats.thinking_tokens
    return f"Thought · {n} token{'' if n == 1 else 's'}"


# --- widgets ----------------------------------------------------------------------------------------


def _open_url(url: QUrl) -> None:
    QDesktopServices.openUrl(url)


class DocView(QTextBrowser):
    """A read-only rich text view as tall as its document: no inner scroll bar, the transcript scrolls.

    The height follows `documentSizeChanged`, which the document layout emits after laying out only
    the changed blocks, so an append costs the same however long the document is; `fit` applies it
    at once (for a small change the layout emits it only later, from a timer). Its contents stay
    where they are when it grows (`WA_StaticContents`), so only the new strip at the bottom is painted.
    """

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._on_anchor)
        self.setTextInteractionFlags(_SELECTABLE | Qt.TextInteractionFlag.LinksAccessibleByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.Base, QColor(0, 0, 0, 0))
        pal.setColor(QPalette.ColorRole.Link, QColor(LINK_COLOR))
        self.setPalette(pal)
        self.viewport().setAutoFillBackground(False)
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        doc = self.document()
        doc.setUndoRedoEnabled(False)  # the undo stack would keep every streamed piece
        doc.setDocumentMargin(2)
        doc.documentLayout().documentSizeChanged.connect(self._fit_height)
        self._split = False  # whether split_long_last_block may have cut a paragraph
        self.setFixedHeight(self._height_for(doc.size()))

    def _height_for(self, size: QSizeF) -> int:
        m = self.contentsMargins()
        return math.ceil(size.height()) + m.top() + m.bottom() + 2 * self.frameWidth()

    def fit(self) -> None:
        """Take the document's height now."""
        self._fit_height(self.document().documentLayout().documentSize())

    def _fit_height(self, size: QSizeF) -> None:
        h = self._height_for(size)
        if h != self.height():
            self.setFixedHeight(h)

    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto", "ftp"):
            _open_url(url)

    # --- long paragraphs while streaming

    SPLIT_AT_LINES = 6
    KEEP_LINES = 2
    PIECE_LINES = 4  # lines per finished piece: drawing a paragraph goes through all of its lines

    def split_long_last_block(self, after: int = 0) -> None:
        """Keep the growing paragraph at the end short: Qt lays a changed paragraph out whole.

        A paragraph that streams without a break (a long thought, a minified line) would be laid out
        again from its start on every update: 4 ms per update at 1k tokens, 16 ms at 5k. Once the
        last paragraph has SPLIT_AT_LINES lines, its finished lines become paragraphs of their own
        of PIECE_LINES lines, cut exactly where the lines wrapped, so it looks the same; the cuts
        are marked, text read back or copied leaves them out, and `join_split_blocks` undoes them
        (when the width changes, or at the end of the message). Only a paragraph that starts at
        `after` or later is cut (the answer's rendered Markdown before it stays as it is).
        """
        doc = self.document()
        block = doc.lastBlock()
        if block.position() < after:
            return
        layout = block.layout()
        lines = layout.lineCount() if layout is not None else 0
        if lines < self.SPLIT_AT_LINES:
            return
        fmt = block.blockFormat()
        if fmt.topMargin() or fmt.bottomMargin() or fmt.textIndent() or fmt.indent():
            return  # a cut would show as a gap or an indent
        last_cut = lines - self.KEEP_LINES
        text = block.text()
        cuts = [line for line in (*range(self.PIECE_LINES, last_cut, self.PIECE_LINES), last_cut)
                if text[layout.lineAt(line).textStart() - 1] != "\u2028"]  # it would add an empty line
        rest = QTextBlockFormat(fmt)
        rest.setProperty(_CONTINUES, True)
        rest.setLayoutDirection(block.textDirection())  # a piece would take it from its first word
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()  # laid out once, at the end
        for line in reversed(cuts):  # from the end, so the positions before stay valid
            cursor.setPosition(block.position() + layout.lineAt(line).textStart())
            cursor.insertBlock(rest, cursor.charFormat())
        cursor.endEditBlock()
        self._split = True

    def join_split_blocks(self) -> None:
        """Make the paragraphs cut by `split_long_last_block` whole again."""
        if not self._split:
            return
        self._split = False
        doc = self.document()
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        block = doc.lastBlock()
        while block.isValid():
            previous = block.previous()
            if block.blockFormat().boolProperty(_CONTINUES) and previous.isValid():
                fmt = previous.blockFormat()
                cursor.setPosition(block.position())
                cursor.deletePreviousChar()
                cursor.setBlockFormat(fmt)
            block = previous
        cursor.endEditBlock()

    def plain_text(self, start: int = 0, end: int | None = None) -> str:
        """The text from `start` to `end` (the end of the document if None), without the cuts."""
        doc = self.document()
        if not self._split and start == 0 and end is None:
            return doc.toPlainText()
        end = doc.characterCount() - 1 if end is None else end
        cursor = QTextCursor(doc)
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        text = cursor.selectedText()  # one character per position: cuts are at known indices
        cuts = {cut - start for cut in self._cuts(start, end)}
        return "".join(c for i, c in enumerate(text) if i not in cuts).translate(_PLAIN_CHARS)

    def createMimeDataFromSelection(self) -> QMimeData:
        cursor = self.textCursor()
        start, end = cursor.selectionStart(), cursor.selectionEnd()
        if not self._split or not self._cuts(start, end):
            return super().createMimeDataFromSelection()
        data = QMimeData()  # plain text only: the rich text would keep the cuts as paragraph breaks
        data.setText(self.plain_text(start, end))
        return data

    def _cuts(self, start: int, end: int) -> list[int]:
        """Positions of the cut separators between `start` and `end`."""
        cuts = []
        block = self.document().findBlock(start).next()
        while block.isValid() and block.position() <= end:
            if block.blockFormat().boolProperty(_CONTINUES):
                cuts.append(block.position() - 1)
            block = block.next()
        return cuts

    def resizeEvent(self, event: QResizeEvent) -> None:
        if event.size().width() != event.oldSize().width():
            self.join_split_blocks()  # cut for the old width
        super().resizeEvent(event)


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
    fmt.setBackground(QColor(CODE_BACKGROUND))
    fmt.setNonBreakableLines(True)
    return fmt


def style_code(doc: QTextDocument) -> None:
    """Code blocks and inline code get a subtle background, links our colour.

    (The Markdown importer colours links from the application palette, not the view's.)
    """
    code_bg = _code_block_format()
    inline = QTextCharFormat()
    inline.setBackground(QColor(INLINE_CODE_BACKGROUND))
    link = QTextCharFormat()
    link.setForeground(QColor(LINK_COLOR))
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
    doc.setMarkdown(markdown, _MARKDOWN)
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
        """Whether `markdown`, rendered after what is there, may look other than the whole would."""
        return (self._has_markdown and markdown[:1] in (" ", "\t")) or bool(_LINK_DEF.search(markdown))

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
        self.doc.setMarkdown(markdown, _MARKDOWN)
        style_code(self.doc)
        self.splitter = MarkdownSplitter()
        self._shown = _Tail()
        self.needs_full_render = False
        self._has_markdown = bool(markdown.strip())
        self._committed_end = self.doc.characterCount() - 1


class _Label(QLabel):
    """A word-wrapped label that remembers its height for a width.

    Qt answers `heightForWidth` by laying the text out again, and a selectable label then repaints
    itself: every label in view would repaint on each layout pass of the transcript, which runs
    whenever a streamed answer grows.
    """

    _FORGET = frozenset({QEvent.Type.FontChange, QEvent.Type.StyleChange, QEvent.Type.ContentsRectChange,
                         QEvent.Type.Polish, QEvent.Type.LayoutDirectionChange})

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._heights: dict[int, int] = {}

    def heightForWidth(self, width: int) -> int:
        h = self._heights.get(width)
        if h is None:
            if len(self._heights) > 8:
                self._heights.clear()
            h = self._heights[width] = super().heightForWidth(width)
        return h

    def setText(self, text: str) -> None:
        self._heights.clear()
        super().setText(text)

    def event(self, e: QEvent) -> bool:
        if e.type() in self._FORGET:
            self._heights.clear()
        return super().event(e)


class _StackLayout(QLayout):
    """Widgets top to bottom, each as tall as it wants to be for the width; never squeezed.

    When a streaming message grows, Qt lays out its parent first at the parent's old height and
    only then makes the parent taller. A box layout would squeeze the largest widget for that
    moment and move everything below it, and move it all back on the next pass: what was moved is
    painted again, and a scroll can no longer copy pixels. Here the grown widget just overflows the
    old height until the parent catches up; nothing else moves.
    """

    def __init__(self, parent: QWidget, margins: QMargins, spacing: int) -> None:
        super().__init__(parent)
        self.setContentsMargins(margins)
        self.setSpacing(spacing)
        self._items: list[QLayoutItem] = []
        self._hfw: tuple[int, int] | None = None  # (width, height) last answered
        self._hint: QSize | None = None
        self._minimum: QSize | None = None

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)
        self.invalidate()

    def add(self, widget: QWidget, alignment: Qt.AlignmentFlag | None = None) -> None:
        """Add `widget` at the bottom: full width, or (AlignLeft) as wide as it wants at the left."""
        self.addChildWidget(widget)
        item = QWidgetItem(widget)
        if alignment is not None:
            item.setAlignment(alignment)
        self.addItem(item)

    def count(self) -> int:
        return len(self._items)

    def widgets(self) -> list[QWidget]:
        """The widgets laid out, top to bottom."""
        return [w for item in self._items if (w := item.widget()) is not None]

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        if not 0 <= index < len(self._items):
            return None
        item = self._items.pop(index)
        self.invalidate()
        return item

    def invalidate(self) -> None:
        self._hfw = self._hint = self._minimum = None
        super().invalidate()

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation.Horizontal

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if self._hfw is None or self._hfw[0] != width:
            m = self.contentsMargins()
            inner = width - m.left() - m.right()
            heights = [self._height(item, inner) for item in self._items if not item.isEmpty()]
            total = sum(heights) + self.spacing() * max(0, len(heights) - 1) + m.top() + m.bottom()
            self._hfw = (width, total)
        return self._hfw[1]

    def sizeHint(self) -> QSize:
        if self._hint is None:
            m = self.contentsMargins()
            width = max((item.sizeHint().width() for item in self._items if not item.isEmpty()), default=0)
            width += m.left() + m.right()
            self._hint = QSize(width, self.heightForWidth(max(width, 1)))
        return self._hint

    def minimumSize(self) -> QSize:
        if self._minimum is None:
            m = self.contentsMargins()
            width = max((item.minimumSize().width() for item in self._items if not item.isEmpty()), default=0)
            self._minimum = QSize(width + m.left() + m.right(), m.top() + m.bottom())
        return self._minimum

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        m = self.contentsMargins()
        x, y, width = rect.x() + m.left(), rect.y() + m.top(), rect.width() - m.left() - m.right()
        for item in self._items:
            if item.isEmpty():
                continue
            h = self._height(item, width)
            w = min(width, item.sizeHint().width()) if item.alignment() & Qt.AlignmentFlag.AlignLeft else width
            item.setGeometry(QRect(x, y, w, h))
            y += h + self.spacing()

    @staticmethod
    def _height(item: QLayoutItem, width: int) -> int:
        return item.heightForWidth(width) if item.hasHeightForWidth() else item.sizeHint().height()


class UserBubble(QFrame):
    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userBubble")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        self.label = _line("userText", text)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.label)


def _line(name: str, text: str) -> QLabel:
    label = _Label(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(_SELECTABLE)
    return label


class AssistantMessage(QFrame):
    """An assistant message: a collapsible thinking section, the answer, and a stats line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assistantMessage")
        self.setAttribute(Qt.WidgetAttribute.WA_StaticContents)  # it grows at the bottom while streaming
        lay = _StackLayout(self, QMargins(), 6)
        self.streaming = True
        self._user_toggled = False
        self._has_thinking = False

        self.waiting = _line("waitingHint", WAITING_TEXT)
        lay.add(self.waiting)

        self.toggle = QToolButton()
        self.toggle.setObjectName("thinkingToggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.toggle.setText("Thinking…")
        self.toggle.toggled.connect(self._on_toggled)
        self.toggle.clicked.connect(self._on_clicked)
        self.toggle.hide()
        lay.add(self.toggle, Qt.AlignmentFlag.AlignLeft)

        self.thinking_box = QFrame()
        self.thinking_box.setObjectName("thinkingBox")
        self.thinking_box.setAttribute(Qt.WidgetAttribute.WA_StaticContents)  # grows at the bottom too
        box = QHBoxLayout(self.thinking_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(8)
        # The rule on the left is a widget of its own: a style-sheet border would make Qt repaint
        # the whole box, and so all the thinking in view, each time the box grows.
        rule = QWidget()
        rule.setObjectName("thinkingRule")
        rule.setFixedWidth(2)
        rule.setAutoFillBackground(True)
        rule.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        rule_palette = rule.palette()
        rule_palette.setColor(QPalette.ColorRole.Window, QColor(THINKING_RULE_COLOR))
        rule.setPalette(rule_palette)
        box.addWidget(rule)
        self.thinking_view = DocView("thinkingText")
        font = self.thinking_view.font()
        font.setItalic(True)
        self.thinking_view.document().setDefaultFont(font)
        pal = self.thinking_view.palette()
        pal.setColor(QPalette.ColorRole.Text, QColor(theme.TEXT_MUTED))
        self.thinking_view.setPalette(pal)
        box.addWidget(self.thinking_view)
        self.thinking_box.hide()
        lay.add(self.thinking_box)

        self.answer_view = DocView("answerView")
        self.answer_view.hide()
        lay.add(self.answer_view)
        self._stream = MarkdownStream(self.answer_view.document())

        self.stats_line = _line("statsLine", "")
        self.stats_line.hide()
        lay.add(self.stats_line)
        self._on_toggled(False)

    # --- streaming

    def append_thinking(self, text: str) -> None:
        if not text:
            return
        self._write_thinking(text)
        self.thinking_view.split_long_last_block()
        self.thinking_view.fit()

    def _write_thinking(self, text: str) -> None:
        self.waiting.hide()
        if not self._has_thinking:
            self._has_thinking = True
            self.toggle.show()
            if not self._user_toggled:
                self.toggle.setChecked(True)
        cursor = QTextCursor(self.thinking_view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        insert_lines(cursor, text, cursor.charFormat())

    def append_answer(self, text: str) -> None:
        if not text:
            return
        self.waiting.hide()
        self.answer_view.show()
        self._stream.feed(text)
        self.answer_view.split_long_last_block(after=self._stream.tail_start)
        self.answer_view.fit()

    def finish(self, stats: MessageStats | None) -> None:
        """End the message: render the rest of the answer, show the stats, fold the thinking away."""
        self.streaming = False
        self.waiting.hide()
        self._stream.finish()  # renders the tail again: no cut left in the answer
        self.thinking_view.join_split_blocks()
        self.toggle.setText(thought_text(stats))
        if not self._user_toggled:
            self.toggle.setChecked(False)
        if stats is not None:
            self.stats_line.setText(stats_text(stats))
            self.stats_line.setProperty("error", stats.stop_reason == "error")
            self.stats_line.style().unpolish(self.stats_line)
            self.stats_line.style().polish(self.stats_line)
            self.stats_line.show()

    def set_message(self, message: Message) -> None:
        """Show a saved message at once (already finished): nothing to cut while it streams."""
        if message.thinking:
            self._write_thinking(message.thinking)
        if message.content:
            self.waiting.hide()
            self.answer_view.show()
            self._stream.render_all(message.content)
        self.finish(message.stats)

    # --- reading back

    def answer_text(self) -> str:
        return self.answer_view.plain_text()

    def thinking_text(self) -> str:
        return self.thinking_view.plain_text()

    def answer_markdown(self) -> str:
        return self._stream.markdown()

    # --- thinking toggle

    def _on_clicked(self) -> None:
        self._user_toggled = True

    def _on_toggled(self, expanded: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.thinking_box.setVisible(expanded and self._has_thinking)


_Look = tuple[QRect, bool, bool]  # a scroll bar's slider, whether it is at the top, at the bottom


class _ScrollBar(QScrollBar):
    """A vertical scroll bar that repaints only the rows where its slider's ends moved.

    Painting the whole bar costs more than the rest of a streamed update (the Fusion style fills it
    with gradients, ~1.5 ms for 800 px). When the transcript grows at the bottom, the slider's top
    moves by a pixel or two, or (in a long transcript) not at all. Fusion, the app's style, draws
    the slider and the groove the same on every row away from the slider's ends; a test checks that
    what is on screen matches a full repaint.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self._shown: _Look | None = None  # what the screen shows once the requested repaints are done

    def _look(self) -> _Look:
        slider = self._part(QStyle.SubControl.SC_ScrollBarSlider)
        return slider, self.value() <= self.minimum(), self.value() >= self.maximum()

    def _part(self, part: QStyle.SubControl) -> QRect:
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        return self.style().subControlRect(QStyle.ComplexControl.CC_ScrollBar, opt, part, self)

    def sliderChange(self, change: QAbstractSlider.SliderChange) -> None:
        self._refresh()

    def _refresh(self) -> None:
        look = self._look()
        old, self._shown = self._shown, look
        if old == look:
            return
        if old is None:
            self.update()
            return
        # At the top or bottom, the style greys out that end's arrow button: repaint just the button.
        # The bottom flag flickers on every growth (the range grows, then the view follows).
        for was, now, part in ((old[1], look[1], QStyle.SubControl.SC_ScrollBarSubLine),
                               (old[2], look[2], QStyle.SubControl.SC_ScrollBarAddLine)):
            if was != now:
                self.update(self._part(part))
        w = self.width()
        for a, b in ((old[0].top(), look[0].top()), (old[0].bottom(), look[0].bottom())):
            if a != b:  # the rows between, and two either side (Fusion draws a line above the slider)
                self.update(QRect(0, min(a, b) - 2, w, abs(a - b) + 5))

    def paintEvent(self, event: QPaintEvent) -> None:
        look = self._look()
        super().paintEvent(event)
        if look == self._shown:
            return
        # Painted in a state other than the one the pending repaints were asked for: the rest of the
        # bar may not match, so repaint it whole.
        if (QRegion(self.rect()) - event.region()).isEmpty():
            self._shown = look
        else:
            self._shown = None
            self.update()


class TranscriptView(QScrollArea):
    """The messages of one chat pane, stacked; follows the bottom while the user is there.

    While an answer streams, a view full of text should not be painted whole on each update: the
    content and the growing widgets keep their pixels when they grow (`WA_StaticContents`), the
    content is opaque, word-wrapped labels remember their heights (asking a selectable QLabel again
    repaints it), and the scroll bar repaints only the rows where its slider moved.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatTranscript")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBar(_ScrollBar())
        self.content = QWidget()
        self.content.setObjectName("transcriptContent")
        # No margin below the last message: as it grows it must reach outside the content's old
        # rectangle, not into a visible margin, or Qt will not scroll by copying (it never copies an
        # area that waits to be painted). The gap at the bottom is the viewport's margin instead.
        self._layout = _StackLayout(self.content, QMargins(14, 12, 14, 0), 14)
        self.setViewportMargins(0, 0, 0, 12)
        self.setWidget(self.content)
        self._current: AssistantMessage | None = None
        self._follow = True  # keep to the bottom as content grows: the user was at the bottom
        self.content.setAttribute(Qt.WidgetAttribute.WA_StaticContents)
        self.content.setAutoFillBackground(True)  # opaque (QScrollArea sets it too): scrolls by copying
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.Wheel and isinstance(e, QWheelEvent):
            # Over the gap below the viewport (a viewport margin, part of this widget, not of the
            # viewport) the wheel must scroll too.
            self.wheelEvent(e)
            return True
        return super().event(e)

    # --- API

    def add_user(self, text: str) -> None:
        self._end_current()
        self._follow = True  # the user just sent it: show it
        self._add(UserBubble(text))
        self._scroll_to_bottom()

    def begin_assistant(self) -> None:
        self._end_current()
        self._current = AssistantMessage()
        self._add(self._current)

    def append_thinking(self, text: str) -> None:
        self._open().append_thinking(text)

    def append_answer(self, text: str) -> None:
        self._open().append_answer(text)

    def finish(self, stats: MessageStats) -> None:
        self._open().finish(stats)
        self._current = None

    def show_error(self, message: str) -> None:
        self._end_current()
        self._add(_line("errorLine", message))

    def show_notice(self, text: str) -> None:
        notice = _line("noticeLine", text)
        notice.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._add(notice)

    def remove_last_assistant(self) -> None:
        """Remove the last assistant message and the error or notice lines that came after it."""
        items = self._layout.widgets()
        idx = next((i for i in range(len(items) - 1, -1, -1) if isinstance(items[i], AssistantMessage)), None)
        if idx is None:
            return
        end = idx + 1
        while end < len(items) and not isinstance(items[end], (UserBubble, AssistantMessage)):
            end += 1
        for w in items[idx:end]:
            self._drop(w)
        if self._current in items[idx:end]:
            self._current = None

    def clear(self) -> None:
        for w in self._layout.widgets():
            self._drop(w)
        self._current = None
        self._follow = True

    def load_messages(self, messages: Sequence[Message]) -> None:
        """Show a saved conversation (system turns are not shown)."""
        self.clear()
        for m in messages:
            if m.role == "user":
                self._add(UserBubble(m.content))
            elif m.role == "assistant":
                block = AssistantMessage()
                self._add(block)
                block.set_message(m)
        self._scroll_to_bottom()

    def message_count(self) -> int:
        return len(self.messages())

    def answer_text(self, index: int = -1) -> str:
        return self.assistant(index).answer_text()

    def thinking_text(self, index: int = -1) -> str:
        return self.assistant(index).thinking_text()

    # --- helpers also used by tests

    def messages(self) -> list[UserBubble | AssistantMessage]:
        return [w for w in self._layout.widgets() if isinstance(w, (UserBubble, AssistantMessage))]

    def assistant(self, index: int = -1) -> AssistantMessage:
        return [w for w in self._layout.widgets() if isinstance(w, AssistantMessage)][index]

    @property
    def following(self) -> bool:
        return self._follow

    # --- internals

    def _open(self) -> AssistantMessage:
        if self._current is None:
            self.begin_assistant()
        assert self._current is not None
        return self._current

    def _end_current(self) -> None:
        if self._current is not None:
            self._current.finish(None)
            self._current = None

    def _add(self, widget: QWidget) -> None:
        self._layout.add(widget)
        widget.show()  # now, not on the queued show that a visible parent would get

    def _drop(self, widget: QWidget) -> None:
        self._layout.removeWidget(widget)
        widget.hide()
        widget.setParent(None)  # gone from the tree now, not only once the deferred delete runs
        widget.deleteLater()

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - BOTTOM_SLACK_PX

    def _on_range(self, _minimum: int, maximum: int) -> None:
        if not self._follow:
            return
        self.verticalScrollBar().setValue(maximum)
