"""describe_error: one line for a person, whatever the exception holds."""

from __future__ import annotations

import errno

from explorer.errors import describe_error


def test_the_message_or_the_type_name_when_empty() -> None:
    assert describe_error(ValueError("bad header")) == "bad header"
    assert describe_error(ValueError("")) == "ValueError"
    assert describe_error(RuntimeError("   \n  ")) == "RuntimeError"
    assert describe_error(TimeoutError()) == "TimeoutError"


def test_with_type_names_the_kind_of_failure() -> None:
    assert describe_error(KeyError("x"), with_type=True) == "KeyError: 'x'"
    assert describe_error(ValueError(), with_type=True) == "ValueError"


def test_one_line_only_and_bounded() -> None:
    exc = RuntimeError("\n  first line  \nTraceback (most recent call last):\n  File ...")
    assert describe_error(exc) == "first line"
    long = describe_error(ValueError("x" * 10_000), limit=50)
    assert len(long) == 50 and long.endswith("…")
    assert "\n" not in describe_error(ValueError("a\nb\nc"), with_type=True)


def test_os_errors_give_their_reason_without_errno_and_path() -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", "/secret/file")
    assert describe_error(exc) == "Permission denied"
    assert describe_error(exc, with_type=True) == "PermissionError: Permission denied"
    assert describe_error(OSError("no strerror here")) == "no strerror here"
