"""`DocView`: a read-only rich text view as tall as its document, for the thinking and the answer."""

from __future__ import annotations

import math

from PySide6.QtCore import QMimeData, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QPalette,
    QResizeEvent,
    QTextBlockFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget

from ui.chat.render import LINK_COLOR

SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
_CONTINUES = QTextFormat.Property.UserProperty + 1  # a block that goes on the line of the one before
_PLAIN_CHARS = str.maketrans({"\u2029": "\n", "\u2028": "\n", "\u00a0": " ", "\ufdd0": "\n", "\ufdd1": "\n"})
EXTERNAL_SCHEMES = ("http", "https", "mailto", "ftp")


def open_url(url: QUrl) -> None:
    """Open a link of an answer outside the app (tests replace this)."""
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
        self.setTextInteractionFlags(SELECTABLE | Qt.TextInteractionFlag.LinksAccessibleByMouse
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
        if url.scheme() in EXTERNAL_SCHEMES:
            open_url(url)

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
        cuts = {cut - start for cut in self.cut_positions(start, end)}
        return "".join(c for i, c in enumerate(text) if i not in cuts).translate(_PLAIN_CHARS)

    def createMimeDataFromSelection(self) -> QMimeData:
        cursor = self.textCursor()
        start, end = cursor.selectionStart(), cursor.selectionEnd()
        if not self._split or not self.cut_positions(start, end):
            return super().createMimeDataFromSelection()
        data = QMimeData()  # plain text only: the rich text would keep the cuts as paragraph breaks
        data.setText(self.plain_text(start, end))
        return data

    def cut_positions(self, start: int, end: int) -> list[int]:
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
