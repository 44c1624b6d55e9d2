"""The checks of a probe question, and how an answer is marked against them.

Only the answer is checked, never the thinking: `answer_only` drops any `<think>…</think>` block
that reached the answer (a free-form prompt on a thinking model writes one as plain text).

- `contains`: every listed text is in the answer (case-insensitive).
- `regex`: Python `re.search` finds the pattern (flags inline, e.g. `(?i)`, `(?m)`, `(?s)`).
- `number`: a number written in the answer equals it within `tolerance` (default 0). Numbers are
  whole tokens: "196 has 9 divisors" holds 196 and 9, "91" is not 9, "x9" holds none, "1,000" is 1000,
  "−1" and "-1.5" are negative.
- `one_of`: at least one of the listed texts is in the answer as a whole word or phrase
  (case-insensitive): "Singapore" is in "Singapore.", not in "Singaporean".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.,])([-−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w]|[.,]\d)")


@dataclass(frozen=True)
class Checks:
    """A question's checks; an empty one (no field set) checks nothing."""

    contains: tuple[str, ...] = ()
    regex: str | None = None
    number: float | None = None
    tolerance: float = 0.0
    one_of: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.contains and self.regex is None and self.number is None and not self.one_of

    def failures(self, answer: str) -> list[str]:
        """The checks `answer` fails, each as a short text ("number 9"); empty when all pass."""
        text = answer_only(answer)
        failed: list[str] = []
        folded = text.casefold()
        failed += [f"contains {c!r}" for c in self.contains if c.casefold() not in folded]
        if self.regex is not None and re.search(self.regex, text) is None:
            failed.append(f"regex {self.regex!r}" if len(self.regex) <= 40 else f"regex {self.regex[:37]!r}…")
        if self.number is not None and not any(math.isclose(n, self.number, rel_tol=0.0, abs_tol=self.tolerance)
                                               for n in numbers_in(text)):
            failed.append(f"number {self.number:g}" + (f" ± {self.tolerance:g}" if self.tolerance else ""))
        if self.one_of and not any(_has_phrase(folded, option.casefold()) for option in self.one_of):
            failed.append("one of " + ", ".join(repr(o) for o in self.one_of))
        return failed

    def mark(self, answer: str) -> bool | None:
        """True when every check passes, False when one fails, None when there is nothing to check."""
        return None if self.empty else not self.failures(answer)


def answer_only(text: str) -> str:
    """`text` without thinking blocks (an unclosed `<think>` runs to the end)."""
    return _THINK.sub("", text)


def numbers_in(text: str) -> list[float]:
    """Every number written in `text`, in order (see the module's doc)."""
    out = []
    for sign, whole, frac in _NUMBER.findall(text):
        value = float(whole.replace(",", "") + (frac or ""))
        out.append(-value if sign else value)
    return out


def _has_phrase(folded: str, phrase: str) -> bool:
    if not phrase:
        return False
    left = r"(?<!\w)" if phrase[0].isalnum() or phrase[0] == "_" else ""
    right = r"(?!\w)" if phrase[-1].isalnum() or phrase[-1] == "_" else ""
    return re.search(left + re.escape(phrase) + right, folded) is not None
