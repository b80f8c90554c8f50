"""docs/rules.md stays true: its rule examples parse and its error examples are exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from traefikpy.rules import RuleError, parse_rule

DOC = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
BODY, _, REST = DOC.partition("## Errors")
ERRORS_SECTION = REST.partition("## Differences")[0]
# Table placeholders, not rules.
PLACEHOLDERS = {
    "Matcher(`value`, ...)", "Path(`path`)", "PathPrefix(`prefix`)", "ClientIP(`ip or cidr`)", "Header(`Host`, ...)",
}
EXAMPLES = [span for span in re.findall(r"``(.+?)``", BODY) if "(" in span and span not in PLACEHOLDERS]
ERROR_LINES = re.search(r"```\n(.*?)```", ERRORS_SECTION, re.S).group(1).strip().splitlines()  # type: ignore[union-attr]


@pytest.mark.parametrize("rule", EXAMPLES)
def test_documented_rules_parse(rule: str) -> None:
    parse_rule(rule)


@pytest.mark.parametrize("line", ERROR_LINES)
def test_documented_errors_are_exact(line: str) -> None:
    rule = re.match(r"rule '(.*)': ", line).group(1)  # type: ignore[union-attr]
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    assert str(info.value) == line
