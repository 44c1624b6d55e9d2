"""The chat view and the Markdown export follow one fence rule (explorer/chat/markdown.py): a stopped
answer shows the same code blocks in the app as in its exported Markdown, and the export's stats line
after it is never swallowed by an open fence."""

from __future__ import annotations

import random
from typing import Any

import pytest
from PySide6.QtGui import QTextDocument, QTextFormat

from explorer.chat.conversation import Message, MessageStats
from explorer.chat.export import to_markdown
from explorer.chat.markdown import close_open_fence
from explorer.chat.records import Session
from explorer.chat.stats import format_stats
from ui.chat.render import MARKDOWN_FEATURES
from ui.chat.transcript import TranscriptView

CASES = {
    "closed": "Look:\n\n```py\nx = 1\n```\nDone.",
    "open": "Look:\n\n```py\nx = 1\n\ny = 2\n",
    "open, indented 3": "Look:\n\n   ```py\n   x = 1\n",
    "indented 4: indented code, not a fence": "Look:\n\n    ```\n    x = 1\n\nAfter.\n",
    "closer indented 4 is code": "```\nx\n    ```\n",
    "tildes, open": "~~~\nraw ``` inside\n",
    "tildes closed only by tildes": "~~~\na\n```\nb\n~~~\nAfter.",
    "longer fence, open": "````md\n```py\nx\n```\n",
    "in a list item, open": "1. Run:\n   ```sh\n   ls -l\n",  # closed at column 0, it would open a new fence
    "in a list item, indented 4, open": "1. Run:\n\n    ```sh\n    ls -l\n",
    "in a nested list item, open": "- a\n  - b\n\n    ```\n    x\n",
    "inline backticks are no fence": "Use ```x``` here.\n\nAnd more.",
}
STATS = MessageStats(ttft_s=0.02, tokens_per_s=40, n_tokens=30, stop_reason="stopped")


def blocks(doc: QTextDocument) -> list[tuple[str, bool]]:
    """(text, is code) per block."""
    out, block = [], doc.firstBlock()
    while block.isValid():
        fmt = block.blockFormat()
        code = fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.hasProperty(
            QTextFormat.Property.BlockCodeLanguage)
        out.append((block.text(), code))
        block = block.next()
    return out


def code_lines(doc: QTextDocument) -> list[str]:
    return [text for text, code in blocks(doc) if code]


def rendered(markdown: str) -> QTextDocument:
    doc = QTextDocument()
    doc.setMarkdown(markdown, MARKDOWN_FEATURES)
    return doc


def session_with(answer: str) -> dict[str, Any]:
    turns = [Message("user", "Show me.").to_json(), Message("assistant", answer, "", STATS).to_json()]
    return {"schema": 1, "id": "x", "title": "t", "created": "", "updated": "",
            "panes": [{"pane": 1, "model": {"label": "M"}, "settings": {}, "turns": turns}]}


@pytest.mark.parametrize("answer", CASES.values(), ids=list(CASES))
def test_view_and_export_show_the_same_code(qtbot: Any, answer: str) -> None:
    view = TranscriptView()
    qtbot.addWidget(view)
    view.resize(420, 500)
    view.show()
    view.begin_assistant()
    rng, pos = random.Random(2), 0
    while pos < len(answer):  # streamed in small pieces, then stopped
        n = rng.randint(1, 5)
        view.append_answer(answer[pos:pos + n])
        pos += n
    view.finish(STATS)
    shown = view.assistant().answer_view.document()

    exported = rendered(to_markdown(Session.from_json(session_with(answer))))
    assert code_lines(exported) == code_lines(shown)
    assert blocks(exported)[-1] == (format_stats(STATS), False)  # the stats line is text, after the answer
    assert code_lines(rendered(close_open_fence(answer))) == code_lines(rendered(answer))  # closing adds none
