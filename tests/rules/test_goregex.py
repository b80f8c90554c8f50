"""Go (RE2) regexps behave as in Go: same matches, same rejections."""

from __future__ import annotations

import pytest

from traefikpy.rules.goregex import GoRegexpError, compile_go_regexp

MATCHES = [
    pytest.param(r"example", "www.example.com", True, id="unanchored"),
    pytest.param(r"^example$", "example\n", False, id="$ is end of text without m"),
    pytest.param(r"(?m)^b$", "a\nb\nc", True, id="$ and ^ per line with m"),
    pytest.param(r"a\z", "a\n", False, id="\\z is end of text"),
    pytest.param(r"\Aa", "ba", False, id="\\A is start of text"),
    pytest.param(r"(?i)abc", "ABC", True, id="case-insensitive flag at start"),
    pytest.param(r"a(?i)b", "aB", True, id="flag in the middle applies after it"),
    pytest.param(r"a(?i)b", "AB", False, id="flag in the middle not before it"),
    pytest.param(r"^(?:x(?i)a|b)$", "B", True, id="flag persists across | in its group"),
    pytest.param(r"^(?:(?i)a)b$", "AB", False, id="flag ends with its group"),
    pytest.param(r"(?i:A)b", "aB", False, id="scoped flag group"),
    pytest.param(r"(?s)a.b", "a\nb", True, id="s flag lets . match newline"),
    pytest.param(r"a.b", "a\nb", False, id=". does not match newline"),
    pytest.param(r"^\d+$", "٣", False, id="\\d is ASCII only"),
    pytest.param(r"^\w+$", "é", False, id="\\w is ASCII only"),
    pytest.param(r"^\s$", "\v", False, id="\\s excludes vertical tab"),
    pytest.param(r"\bfoo\b", "a foo b", True, id="word boundary"),
    pytest.param(r"\bfoo", "éfoo", True, id="word boundary is ASCII"),
    pytest.param(r"^[[:alpha:]]+$", "abcXYZ", True, id="POSIX class"),
    pytest.param(r"^[^[:digit:]]+$", "abc", True, id="negated class with POSIX class"),
    pytest.param(r"^[\d\-]+$", "12-3", True, id="perl class in bracket"),
    pytest.param(r"^[a-c-e]+$", "a-e", True, id="dash after range is literal"),
    pytest.param(r"^[]a]+$", "]a", True, id="leading ] is literal"),
    pytest.param(r"^\Qa.b\E$", "a.b", True, id="quoted literal"),
    pytest.param(r"^\Qa.b\E$", "axb", False, id="quoted dot is literal"),
    pytest.param(r"^\101\x42\x{43}$", "ABC", True, id="octal and hex escapes"),
    pytest.param(r"^a{,2}$", "a{,2}", True, id="{,n} is literal in Go"),
    pytest.param(r"^a{2}$", "aa", True, id="exact repeat"),
    pytest.param(r"^a{2,}?$", "aaa", True, id="lazy open repeat"),
    pytest.param(r"^/{path:(css|js)}$", "/{path:css}", True, id="v2 template is literal"),
    pytest.param(r"^(?P<x>a)(?<y>b)$", "ab", True, id="named groups both forms"),
    pytest.param(r"^(?P<1a>a)$", "a", True, id="Go allows a group name starting with a digit"),
    pytest.param(r"^*a", "a", True, id="repeated anchor"),
    pytest.param(r"a\.b", "a.b", True, id="escaped punctuation"),
    pytest.param(r"[[]", "[", True, id="bracket in class"),
    pytest.param(r"a&&b|c~~d", "c~~d", True, id="set-operation lookalikes are literals"),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCHES)
def test_go_semantics(pattern: str, text: str, expected: bool) -> None:
    assert (compile_go_regexp(pattern).search(text) is not None) is expected


REJECTED = [
    pytest.param(r"(?=a)", "unsupported Perl syntax", id="look-ahead"),
    pytest.param(r"(?!a)", "unsupported Perl syntax", id="negative look-ahead"),
    pytest.param(r"(?<=a)b", "unsupported Perl syntax", id="look-behind"),
    pytest.param(r"(?>a)", "unsupported Perl syntax", id="atomic group"),
    pytest.param(r"(?#c)", "unsupported Perl syntax", id="comment group"),
    pytest.param(r"(a)\1", "backreferences", id="backreference"),
    pytest.param(r"(?P=a)", "unsupported Perl syntax", id="named backreference"),
    pytest.param(r"a*+", "nested repetition", id="possessive quantifier"),
    pytest.param(r"a**", "nested repetition", id="double star"),
    pytest.param(r"a{2}{3}", "nested repetition", id="repeat of repeat"),
    pytest.param(r"*a", "missing argument", id="leading star"),
    pytest.param(r"(|*)", "missing argument", id="star after bar"),
    pytest.param(r"a{1001}", "more than 1000", id="repeat too large"),
    pytest.param(r"a{3,2}", "max below min", id="inverted repeat"),
    pytest.param(r"(a", "missing closing )", id="unclosed group"),
    pytest.param(r"a)", "unexpected )", id="stray paren"),
    pytest.param(r"[a", "missing closing ]", id="unclosed class"),
    pytest.param(r"[z-a]", "invalid character class range", id="inverted range"),
    pytest.param(r"[[:foo:]]", "invalid character class range", id="unknown POSIX class"),
    pytest.param(r"[[:^alpha:]]", "negated POSIX", id="negated POSIX class"),
    pytest.param(r"\pL", "Unicode character classes", id="unicode class"),
    pytest.param(r"(?U)a*", "ungreedy", id="ungreedy flag"),
    pytest.param(r"(?i-)a", "missing flags", id="empty negated flags"),
    pytest.param(r"\Z", "invalid escape", id="python-only \\Z"),
    pytest.param(r"\8", "invalid escape", id="\\8"),
    pytest.param(r"[\b]", "invalid escape", id="\\b in class"),
    pytest.param(r"\x{110000}", "out of range", id="code point too large"),
    pytest.param(r"(?P<a>x)(?P<a>y)", "duplicate capture group name", id="duplicate name"),
    pytest.param("a\\", "trailing backslash", id="trailing backslash"),
]


@pytest.mark.parametrize(("pattern", "message"), REJECTED)
def test_rejected_like_go(pattern: str, message: str) -> None:
    with pytest.raises(GoRegexpError) as info:
        compile_go_regexp(pattern)
    assert message in str(info.value)
