"""constraints expressions (providers.constraints): Label/LabelRegex for Docker, Tag/TagRegex for Consul."""

from __future__ import annotations

import re
from typing import Any

import pytest

from providers.constraints import ConstraintError, compile_constraints

LABELS = {"hello": "world", "foo": "bar", "traefik.tags": "public,web"}

LABEL_CASES: list[dict[str, Any]] = [
    {"desc": "empty keeps everything", "expr": "", "want": True},
    {"desc": "Label equal", "expr": "Label(`hello`, `world`)", "want": True},
    {"desc": "Label different value", "expr": "Label(`hello`, `worlds`)", "want": False},
    {"desc": "Label missing key", "expr": "Label(`hi`, `world`)", "want": False},
    {"desc": "Label missing key equals empty", "expr": "Label(`hi`, ``)", "want": True},
    {"desc": "double-quoted strings", "expr": 'Label("hello", "world")', "want": True},
    {"desc": "negation", "expr": "!Label(`hello`, `world`)", "want": False},
    {"desc": "and", "expr": "Label(`hello`, `world`) && Label(`foo`, `bar`)", "want": True},
    {"desc": "and with a negation", "expr": "Label(`hello`, `world`) && !Label(`foo`, `bar`)", "want": False},
    {"desc": "or", "expr": "Label(`hello`, `worlds`) || Label(`foo`, `bar`)", "want": True},
    {"desc": "&& binds tighter than ||",
     "expr": "Label(`foo`, `bar`) || Label(`hello`, `x`) && Label(`hello`, `y`)", "want": True},
    {"desc": "parentheses",
     "expr": "(Label(`foo`, `bar`) || Label(`hello`, `x`)) && Label(`hello`, `y`)", "want": False},
    {"desc": "double negation", "expr": "!!Label(`foo`, `bar`)", "want": True},
    {"desc": "LabelRegex searches anywhere", "expr": "LabelRegex(`hello`, `w\\w+`)", "want": True},
    {"desc": "LabelRegex anchored", "expr": "LabelRegex(`hello`, `^w.*d$`)", "want": True},
    {"desc": "LabelRegex no match", "expr": "LabelRegex(`hello`, `w\\w+s`)", "want": False},
    {"desc": "LabelRegex with escapes in a Go string", "expr": 'LabelRegex("hello", "w\\\\w+")', "want": True},
    {"desc": "invalid regex matches nothing", "expr": "LabelRegex(`hello`, `w(\\w+`)", "want": False},
    {"desc": "label name with dots", "expr": "LabelRegex(`traefik.tags`, `(^|,)public(,|$)`)", "want": True},
]


@pytest.mark.parametrize("case", LABEL_CASES, ids=[c["desc"] for c in LABEL_CASES])
def test_labels(case: dict[str, Any]) -> None:
    assert compile_constraints(case["expr"], "labels")(LABELS) is case["want"]


TAGS = ["web", "public", "traefik.enable=true"]

TAG_CASES: list[dict[str, Any]] = [
    {"desc": "Tag present", "expr": "Tag(`web`)", "want": True},
    {"desc": "Tag absent", "expr": "Tag(`private`)", "want": False},
    {"desc": "Tag is exact", "expr": "Tag(`we`)", "want": False},
    {"desc": "TagRegex", "expr": "TagRegex(`^pub.*`)", "want": True},
    {"desc": "TagRegex none", "expr": "TagRegex(`^priv`)", "want": False},
    {"desc": "combination", "expr": "Tag(`web`) && !Tag(`private`) && (TagRegex(`x`) || Tag(`public`))", "want": True},
]


@pytest.mark.parametrize("case", TAG_CASES, ids=[c["desc"] for c in TAG_CASES])
def test_tags(case: dict[str, Any]) -> None:
    assert compile_constraints(case["expr"], "tags")(TAGS) is case["want"]


ERRORS = [
    {"desc": "too few arguments", "expr": "Label(`hello`)", "kind": "labels", "msg": "takes 2 arguments"},
    {"desc": "unknown function", "expr": "Foo(`hello`)", "kind": "labels", "msg": "unsupported function 'Foo'"},
    {"desc": "tag function for labels", "expr": "Tag(`a`)", "kind": "labels", "msg": "unsupported function"},
    {"desc": "label function for tags", "expr": "Label(`a`, `b`)", "kind": "tags", "msg": "unsupported function"},
    {"desc": "unbalanced parenthesis", "expr": "(Tag(`a`)", "kind": "tags", "msg": "expected ')'"},
    {"desc": "dangling operator", "expr": "Tag(`a`) &&", "kind": "tags", "msg": "expected a function call"},
    {"desc": "non-string argument", "expr": "Tag(a)", "kind": "tags", "msg": "string arguments"},
    {"desc": "single & is not an operator", "expr": "Tag(`a`) & Tag(`b`)", "kind": "tags", "msg": "unexpected"},
]


@pytest.mark.parametrize("case", ERRORS, ids=[c["desc"] for c in ERRORS])
def test_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ConstraintError, match=re.escape(case["msg"])):
        compile_constraints(case["expr"], case["kind"])
