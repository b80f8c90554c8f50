"""The predicate language shared by circuitBreaker.expression and buffering.retryExpression."""

from __future__ import annotations

from typing import Any

import pytest

from middlewares.expr import ExpressionError, Function, compile_expression


class Ctx:
    def __init__(self, **values: Any) -> None:
        self.values = values


FUNCS = {
    "Ratio": Function((), "float", lambda: lambda c: c.values["ratio"]),
    "Count": Function((), "int", lambda: lambda c: c.values["count"]),
    "Flag": Function((), "bool", lambda: lambda c: c.values["flag"]),
    "Name": Function((), "string", lambda: lambda c: c.values["name"]),
    "Between": Function(("int", "int"), "int", lambda a, b: lambda c: sum(1 for v in c.values["codes"] if a <= v < b)),
    "Quantile": Function(("float",), "float", lambda q: lambda c: c.values["ratio"] * q),
}
CTX = Ctx(ratio=0.4, count=3, flag=True, name="GET", codes=[200, 500, 503])

VALID = [
    {"desc": "float comparison", "expr": "Ratio() > 0.3", "want": True},
    {"desc": "float >= exact", "expr": "Ratio() >= 0.4", "want": True},
    {"desc": "float <", "expr": "Ratio() < 0.4", "want": False},
    {"desc": "int comparison", "expr": "Count() == 3", "want": True},
    {"desc": "int !=", "expr": "Count() != 3", "want": False},
    {"desc": "int <=", "expr": "Count() <= 2", "want": False},
    {"desc": "int literal against a float (lenient)", "expr": "Ratio() < 1", "want": True},
    {"desc": "bool function alone", "expr": "Flag()", "want": True},
    {"desc": "and", "expr": "Flag() && Count() < 2", "want": False},
    {"desc": "or", "expr": "Count() < 2 || Ratio() > 0.1", "want": True},
    {"desc": "and binds tighter than or", "expr": "Count() > 5 && Flag() || Ratio() > 0.1", "want": True},
    {"desc": "parentheses", "expr": "Count() > 5 && (Flag() || Ratio() > 0.1)", "want": False},
    {"desc": "long chains", "expr": "Flag() && Flag() && Count() == 3 && Ratio() > 0", "want": True},
    {"desc": "string equality", "expr": 'Name() == "GET"', "want": True},
    {"desc": "raw string", "expr": "Name() != `POST`", "want": True},
    {"desc": "function arguments", "expr": "Between(500, 600) == 2", "want": True},
    {"desc": "float argument", "expr": "Quantile(50.0) > 19.5", "want": True},
    {"desc": "int argument for a float parameter", "expr": "Quantile(50) > 19.5", "want": True},
    {"desc": "whitespace everywhere", "expr": "  Count (  ) ==3&&Flag()  ", "want": True},
    {"desc": "exponent literal", "expr": "Ratio() < 1e1", "want": True},
]


@pytest.mark.parametrize("case", VALID, ids=[c["desc"] for c in VALID])
def test_valid(case: dict[str, Any]) -> None:
    assert compile_expression(case["expr"], FUNCS)(CTX) is case["want"]


INVALID = [
    {"desc": "empty", "expr": "   ", "msg": "empty"},
    {"desc": "unknown function", "expr": "Nope() > 1", "msg": "unsupported function: Nope"},
    {"desc": "bare identifier", "expr": "Count > 1", "msg": "Count is not defined"},
    {"desc": "negation", "expr": "!Flag()", "msg": "! is not supported"},
    {"desc": "literal on the left", "expr": "1 < Count()", "msg": "left side"},
    {"desc": "function on the right", "expr": "Count() < Count()", "msg": "right side"},
    {"desc": "number alone", "expr": "Count()", "msg": "expected a condition"},
    {"desc": "literal alone", "expr": "1", "msg": "expected a condition"},
    {"desc": "comparing a condition", "expr": "Flag() == 1", "msg": "cannot be compared"},
    {"desc": "string ordering", "expr": 'Name() < "x"', "msg": "only support == and !="},
    {"desc": "number to string", "expr": 'Count() == "3"', "msg": "compared to a string"},
    {"desc": "string to number", "expr": "Name() == 3", "msg": "compared to int literal 3"},
    {"desc": "wrong arity", "expr": "Between(1) > 0", "msg": "takes 2 argument"},
    {"desc": "fractional int argument", "expr": "Between(1.5, 2) > 0", "msg": "expected int"},
    {"desc": "string argument", "expr": 'Between("a", 2) > 0', "msg": "expected int"},
    {"desc": "call as argument", "expr": "Between(Count(), 2) > 0", "msg": "must be literals"},
    {"desc": "dangling operator", "expr": "Flag() &&", "msg": "end of expression"},
    {"desc": "unbalanced parenthesis", "expr": "(Flag()", "msg": "expected ')'"},
    {"desc": "stray character", "expr": "Flag() & Flag()", "msg": "unexpected character '&'"},
    {"desc": "trailing tokens", "expr": "Flag() Flag()", "msg": "unexpected 'Flag'"},
    {"desc": "unknown escape", "expr": 'Name() == "\\q"', "msg": "unsupported escape"},
]


@pytest.mark.parametrize("case", INVALID, ids=[c["desc"] for c in INVALID])
def test_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(case["expr"], FUNCS)
    assert case["msg"] in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_names_the_expression_and_position() -> None:
    with pytest.raises(ExpressionError, match=r"invalid expression 'Count\(\) < 2 @': unexpected character '@' at position 13"):
        compile_expression("Count() < 2 @", FUNCS)


def test_short_circuit() -> None:
    calls: list[str] = []
    funcs = {
        "A": Function((), "bool", lambda: lambda c: calls.append("A") or False),
        "B": Function((), "bool", lambda: lambda c: calls.append("B") or True),
    }
    assert compile_expression("A() && B()", funcs)(None) is False
    assert calls == ["A"]
