"""The one exception of the rule language: :class:`RuleError`, with the offending position."""

from __future__ import annotations


class RuleError(ValueError):
    """A router rule that cannot be parsed or whose matcher values are invalid.

    ``position`` is the 0-based character offset in ``rule`` where the problem was found (the
    start of the matcher or argument at fault for value errors).  ``str(err)`` names the rule,
    what went wrong and where, e.g.
    ``rule 'Host(`a`) &&': unexpected end of rule at position 12, expected a matcher``.
    """

    def __init__(self, rule: str, position: int, reason: str) -> None:
        self.rule = rule
        self.position = position
        self.reason = reason
        super().__init__(f"rule '{rule}': {reason}")
