"""A parsed rule: the matcher tree, its compiled test, and what it proves about the host.

The tree is kept the way Traefik keeps it: ``!`` is pushed down to the matchers with De
Morgan's laws, so a tree is ``and``/``or`` nodes over (possibly negated) matcher leaves.  The
tree is compiled once into nested closures so that ``Rule.match`` costs a few calls.

Host analysis (used by the routing table to index routes):

* ``host_index`` is ``(exact_hosts, wildcard_keys)`` when every way the rule can match requires
  a ``Host`` matcher: the request host must be in ``exact_hosts`` or its wildcard key (the host
  minus its first label, e.g. ``.example.com``; ``""`` for a single-label host) must be in
  ``wildcard_keys``.  Otherwise it is None;
* ``hosts`` is ``exact_hosts`` when the rule can only match those exact hosts (no wildcard);
* ``host_suffixes`` is ``wildcard_keys`` when the rule can only match through ``*.`` wildcards;
* ``host_only`` is true when the rule is nothing but an ``||`` of ``Host`` matchers, so being
  found in the host index already proves the match;
* ``indexed_match`` is what remains to test once found in the host index (None: nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from traefikpy.rules.matchers import HostMatcher, Matcher, WildcardHostMatcher
from traefikpy.rules.request import Routable

HostIndex = tuple[frozenset[str], frozenset[str]]
MatchFn = Callable[[Routable], bool]


class Leaf:
    """One matcher call, possibly negated; ``text`` is its source text (e.g. ``Host(`a`)``)."""

    __slots__ = ("matcher", "negated", "text")

    def __init__(self, matcher: Matcher, text: str, negated: bool = False) -> None:
        self.matcher = matcher
        self.text = text
        self.negated = negated

    def invert(self) -> Leaf:
        return Leaf(self.matcher, self.text, not self.negated)

    def __repr__(self) -> str:
        return ("!" if self.negated else "") + self.text


class Op:
    """``and`` / ``or`` of two or more subtrees (chains of one operator are kept flat, so a rule
    listing a thousand hosts is not a thousand levels deep)."""

    __slots__ = ("op", "children")

    def __init__(self, op: str, children: tuple[Node, ...]) -> None:
        self.op = op
        self.children = children

    @classmethod
    def join(cls, op: str, left: Node, right: Node) -> Op:
        """``left op right``, flattening a left operand that is already an ``op`` chain."""
        if isinstance(left, Op) and left.op == op:
            return cls(op, (*left.children, right))
        return cls(op, (left, right))

    def invert(self) -> Op:
        return Op("or" if self.op == "and" else "and", tuple(child.invert() for child in self.children))

    def __repr__(self) -> str:
        sep = " && " if self.op == "and" else " || "
        return "(" + sep.join(repr(child) for child in self.children) + ")"


Node = Leaf | Op


def compile_tree(node: Node) -> MatchFn:
    """A function evaluating ``node`` with short-circuit ``&&``/``||``."""
    if isinstance(node, Leaf):
        test = node.matcher.match
        if node.negated:
            return lambda req: not test(req)
        return test
    tests = tuple(compile_tree(child) for child in node.children)
    if len(tests) == 2:
        left, right = tests
        if node.op == "and":
            return lambda req: left(req) and right(req)
        return lambda req: left(req) or right(req)
    # Plain loops, not all()/any() over a generator: this runs per request and is faster.
    if node.op == "and":
        def all_match(req: Routable) -> bool:
            for test_one in tests:  # noqa: SIM110
                if not test_one(req):
                    return False
            return True
        return all_match

    def any_match(req: Routable) -> bool:
        for test_one in tests:  # noqa: SIM110
            if test_one(req):
                return True
        return False
    return any_match


def leaves(node: Node) -> Iterator[Leaf]:
    """The matcher leaves of ``node`` in source order."""
    if isinstance(node, Leaf):
        yield node
    else:
        for child in node.children:
            yield from leaves(child)


def host_index(node: Node) -> HostIndex | None:
    """``(exact_hosts, wildcard_keys)`` that any match of ``node`` requires, or None."""
    if isinstance(node, Leaf):
        if node.negated:
            return None
        if isinstance(node.matcher, HostMatcher):
            return frozenset((node.matcher.host,)), frozenset()
        if isinstance(node.matcher, WildcardHostMatcher):
            return frozenset(), frozenset((node.matcher.key,))
        return None
    found = [host_index(child) for child in node.children]
    if node.op == "or":
        if any(index is None for index in found):
            return None
        return (frozenset().union(*(index[0] for index in found if index)),
                frozenset().union(*(index[1] for index in found if index)))
    # "and": every operand's requirement holds; keep the narrowest one.
    proven = [index for index in found if index is not None]
    if not proven:
        return None
    return min(proven, key=lambda index: len(index[0]) + len(index[1]))


def is_host_only(node: Node) -> bool:
    """Whether ``node`` is an ``||`` of plain (non-negated) ``Host`` matchers."""
    if isinstance(node, Leaf):
        return not node.negated and isinstance(node.matcher, HostMatcher | WildcardHostMatcher)
    return node.op == "or" and all(is_host_only(child) for child in node.children)


def indexed_test(node: Node, index: HostIndex) -> MatchFn | None:
    """What is left to test of ``node`` for a request found through ``index`` (its host is one
    the rule requires): nothing (None) for a rule of Host matchers only; for an ``&&``, the
    operands that are Host matchers covering the whole index are dropped (usually the
    ``Host(...)`` of ``Host(...) && PathPrefix(...)``); otherwise the whole rule."""
    if is_host_only(node):
        return None
    if isinstance(node, Leaf) or node.op != "and":
        return compile_tree(node)
    rest = []
    for child in node.children:
        covered = host_index(child) if is_host_only(child) else None
        if covered is None or not (index[0] <= covered[0] and index[1] <= covered[1]):
            rest.append(child)
    if not rest:
        return None  # e.g. (Host(`a`) || Host(`b`)) && Host(`a`)
    return compile_tree(rest[0] if len(rest) == 1 else Op("and", tuple(rest)))


class Rule:
    """A parsed, compiled rule.  Build with :func:`traefikpy.rules.parse_rule`.

    ``match(req)`` tells whether the request matches; ``explain(req)`` lists every matcher call
    (``!`` included when negated) with its own result.  Rules are immutable.
    """

    __slots__ = ("text", "tree", "match", "host_index", "hosts", "host_suffixes", "host_only", "indexed_match")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self.match: MatchFn = compile_tree(tree)
        index = host_index(tree)
        self.host_index: HostIndex | None = index
        self.hosts: frozenset[str] | None = index[0] if index is not None and not index[1] else None
        self.host_suffixes: frozenset[str] | None = index[1] if index is not None and not index[0] else None
        self.host_only = is_host_only(tree)
        self.indexed_match = indexed_test(tree, index) if index is not None else None

    def explain(self, req: Routable) -> list[tuple[str, bool]]:
        """Each matcher call of the rule, in source order, with whether it holds for ``req``."""
        result = []
        for leaf in leaves(self.tree):
            matched = leaf.matcher.match(req)
            result.append((repr(leaf), matched != leaf.negated))
        return result

    def __repr__(self) -> str:
        return f"<Rule {self.text!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)
