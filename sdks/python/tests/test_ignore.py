"""The gitignore matcher of directory uploads (``nullspace._ignore``)."""

from __future__ import annotations

import pytest

from nullspace._ignore import IgnoreRule, IgnoreRules


def rules(*lines: str) -> IgnoreRules:
    return IgnoreRules.parse(lines)


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        # a name pattern matches at any depth
        ("*.pyc", "a.pyc", False, True),
        ("*.pyc", "pkg/sub/a.pyc", False, True),
        ("*.pyc", "a.py", False, False),
        ("*.pyc", "a.pyc.txt", False, False),
        # * and ? do not cross /
        ("a*b", "a/b", False, False),
        ("a?b", "a/b", False, False),
        ("a?b", "axb", False, True),
        # anchored: a leading slash, or a slash in the middle
        ("/build", "build", True, True),
        ("/build", "src/build", True, False),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "x/docs/a.md", False, False),
        ("docs/*.md", "docs/sub/a.md", False, False),
        # directory patterns match directories only
        ("cache/", "cache", True, True),
        ("cache/", "cache", False, False),
        ("cache/", "deep/cache", True, True),
        # ** forms
        ("**/logs", "logs", True, True),
        ("**/logs", "a/b/logs", True, True),
        ("logs/**", "logs/a/b.txt", False, True),
        ("logs/**", "logs", True, False),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "ab", False, False),
        # classes
        ("[abc].txt", "b.txt", False, True),
        ("[abc].txt", "d.txt", False, False),
        ("[!abc].txt", "d.txt", False, True),
        ("[a-c]x", "bx", False, True),
        # escapes and literal characters
        ("\\#notes", "#notes", False, True),
        ("\\!bang", "!bang", False, True),
        ("a+b(c).txt", "a+b(c).txt", False, True),
        ("trailing\\ ", "trailing ", False, True),
        ("trail   ", "trail", False, True),
    ],
)
def test_one_pattern(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert rules(pattern).decides(path, is_dir) is ignored


def test_blank_lines_and_comments_are_nothing() -> None:
    parsed = rules("", "   ", "# a comment", "/", "!")
    assert parsed.rules == []
    assert IgnoreRule.parse("# x") is None


def test_negation_re_includes_and_the_last_match_decides() -> None:
    r = rules("*.pyc", "!keep.pyc")
    assert r.decides("a.pyc", False)
    assert not r.decides("keep.pyc", False)
    assert not r.decides("sub/keep.pyc", False)
    # order matters: an exclusion after the negation wins again
    r2 = rules("*.pyc", "!keep.pyc", "sub/*.pyc")
    assert r2.decides("sub/keep.pyc", False)
    assert not r2.decides("keep.pyc", False)


def test_a_file_in_an_excluded_directory_cannot_be_re_included() -> None:
    r = rules("build/", "!build/keep.txt")
    assert r.is_ignored("build/keep.txt")
    assert r.is_ignored("build", is_dir=True)
    # excluding the contents (not the directory) lets a negation through
    r2 = rules("build/*", "!build/keep.txt")
    assert not r2.is_ignored("build/keep.txt")
    assert r2.is_ignored("build/other.txt")


def test_is_ignored_checks_parents() -> None:
    r = rules("node_modules/")
    assert r.is_ignored("web/node_modules/pkg/index.js")
    assert not r.is_ignored("web/src/index.js")
    assert not r.decides("web/node_modules/pkg/index.js", False)  # itself: no match


def test_ignore_file_comes_before_ignore_patterns() -> None:
    # the file excludes, the caller's pattern re-includes: the caller wins
    r = IgnoreRules.for_upload("*.log\n# comment\n", ["!important.log"])
    assert r.decides("debug.log", False)
    assert not r.decides("important.log", False)
    # and the other way round: the file re-includes, a later pattern excludes again
    r2 = IgnoreRules.for_upload("*.log\n!important.log\n", ["important.log"])
    assert r2.decides("important.log", False)


def test_one_pattern_string_is_not_split_into_characters() -> None:
    r = IgnoreRules.for_upload(None, "*.tmp")
    assert r.decides("x.tmp", False)
    assert not r.decides("t", False)


def test_nothing_is_ignored_implicitly() -> None:
    r = IgnoreRules.for_upload(None, None)
    assert not r
    for path in (".git", ".git/config", ".env", ".venv/bin/python", "__pycache__/a.pyc"):
        assert not r.is_ignored(path)


def test_crlf_lines() -> None:
    r = IgnoreRules.for_upload("*.bak\r\n/out\r\n", None)
    assert r.decides("a.bak", False)
    assert r.decides("out", True)
    assert not r.decides("x/out", True)
