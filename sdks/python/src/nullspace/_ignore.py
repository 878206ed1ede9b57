"""Gitignore patterns: which paths of a directory upload are left out.

A directory upload reads ``.nullspaceignore`` at the source's root first, then the
caller's ``ignore_patterns``, as one list in that order. The syntax is gitignore's:

- blank lines and lines starting with ``#`` are nothing (``\\#`` is a literal ``#``);
  trailing spaces are dropped unless escaped (``\\ ``);
- ``!`` re-includes what an earlier pattern left out (``\\!`` is a literal ``!``); the
  last pattern that matches a path decides;
- a trailing ``/`` matches only directories;
- a pattern with a ``/`` at its start or in its middle is anchored at the root
  (``/build``, ``docs/*.md``); one without matches a name at any depth (``*.pyc``);
- ``*`` and ``?`` do not cross ``/``; ``[a-z]`` and ``[!a-z]`` are classes; ``**/x``
  matches ``x`` at any depth, ``x/**`` everything inside ``x``, ``a/**/b`` any number of
  directories between;
- as in git, a path inside a left-out directory cannot be re-included: the directory
  is never walked (:meth:`IgnoreRules.is_ignored` checks parents for the same reason).

Paths are relative to the root, with ``/`` separators. Nothing is left out implicitly:
``.git`` and other dot-directories are uploaded unless a pattern names them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["IGNORE_FILE", "IgnoreRule", "IgnoreRules"]

IGNORE_FILE = ".nullspaceignore"
"""The ignore file read at the root of a directory upload."""


def _class(pattern: str, i: int) -> tuple[str, int] | None:
    """The regex of the bracket expression starting at ``pattern[i] == "["`` and the
    index after it, or ``None`` when it is not closed (then ``[`` is literal)."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    if negate:
        j += 1
    start = j
    items: list[str] = []
    while j < len(pattern):
        c = pattern[j]
        if c == "]" and j > start:
            body = "".join(items)
            return (f"[^/{body}]" if negate else f"[{body}]"), j + 1
        if c == "\\" and j + 1 < len(pattern):
            j += 1
            c = pattern[j]
        if c == "/":  # a class never matches a separator
            return None
        items.append("\\" + c if c in "\\^]-[" and not (c == "-" and items) else c)
        j += 1
    return None


def _translate(pattern: str) -> str:
    """The regex body of a pattern without its ``!``, leading ``/`` and trailing ``/``."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                at_start = i == 0 or pattern[i - 1] == "/"
                end = i + 2
                if at_start and (end == n or pattern[end] == "/"):
                    if end == n:  # "x/**": everything inside; "**" alone: anything
                        out.append(".*")
                        i = end
                    else:  # "**/": any number of directories, none included
                        out.append("(?:.*/)?")
                        i = end + 1
                    continue
                while i < n and pattern[i] == "*":  # other runs are one "*"
                    i += 1
                out.append("[^/]*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            found = _class(pattern, i)
            if found is not None:
                out.append(found[0])
                i = found[1]
                continue
            out.append(re.escape(c))
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _strip_trailing_spaces(line: str) -> str:
    end = len(line)
    while end > 0 and line[end - 1] == " ":
        backslashes = 0
        k = end - 2
        while k >= 0 and line[k] == "\\":
            backslashes += 1
            k -= 1
        if backslashes % 2 == 1:  # "\ " keeps this space
            break
        end -= 1
    return line[:end]


@dataclass(frozen=True)
class IgnoreRule:
    """One pattern: what it matches, and whether it re-includes (``!``)."""

    pattern: str
    """The line as written (without trailing spaces)."""
    negated: bool
    dir_only: bool
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, line: str) -> IgnoreRule | None:
        """The rule of one line, ``None`` for a blank line or a comment."""
        text = _strip_trailing_spaces(line.rstrip("\r\n"))
        if not text or text.startswith("#"):
            return None
        body = text
        negated = body.startswith("!")
        if negated:
            body = body[1:]
        elif body.startswith(("\\!", "\\#")):
            body = body[1:]
        dir_only = body.endswith("/") and not body.endswith("\\/")
        body = body.rstrip("/") if dir_only else body
        if not body:
            return None
        anchored = "/" in body
        body = body.lstrip("/")
        if not body:
            return None
        regex = _translate(body)
        if not anchored:
            regex = "(?:.*/)?" + regex
        return cls(text, negated, dir_only, re.compile(f"^{regex}$", re.DOTALL))

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        return self.regex.match(path) is not None


class IgnoreRules:
    """An ordered list of rules; the last one matching a path decides."""

    def __init__(self, rules: Iterable[IgnoreRule] = ()) -> None:
        self.rules: list[IgnoreRule] = list(rules)

    @classmethod
    def parse(cls, lines: Iterable[str]) -> IgnoreRules:
        """Rules from the lines of an ignore file (or a list of patterns)."""
        parsed = (IgnoreRule.parse(line) for line in lines)
        return cls(rule for rule in parsed if rule is not None)

    @classmethod
    def for_upload(cls, ignore_file: str | None, patterns: Iterable[str] | None) -> IgnoreRules:
        """The rules of a directory upload: the text of its ignore file first, then
        ``patterns``."""
        if isinstance(patterns, str):
            patterns = [patterns]  # one pattern, not its characters
        lines = (ignore_file or "").splitlines() + list(patterns or [])
        return cls.parse(lines)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def decides(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` itself is left out (its parents not looked at: a walk that
        does not enter left-out directories needs no more)."""
        ignored = False
        for rule in self.rules:
            if rule.negated == ignored and rule.matches(path, is_dir):
                ignored = not rule.negated
        return ignored

    def is_ignored(self, path: str, is_dir: bool = False) -> bool:
        """Whether ``path`` is left out, itself or by a left-out parent directory."""
        parts = [p for p in path.strip("/").split("/") if p]
        for k in range(1, len(parts)):
            if self.decides("/".join(parts[:k]), True):
                return True
        return bool(parts) and self.decides("/".join(parts), is_dir)
