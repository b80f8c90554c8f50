"""Traefik v3 HTTP router rules: parsing, matching and the indexed routing table (pure, no I/O).

Flow: a router's rule text goes through :func:`parse_rule` (``lexer`` -> ``parser`` ->
``matchers``, regexps translated by ``goregex``) into an immutable :class:`Rule`; the compiler
builds one :class:`RoutingTable` per entrypoint from :class:`Route` entries; the data plane calls
:meth:`RoutingTable.lookup` with the request's ``Exchange`` (a :class:`Routable`; the explain API
and tests build a :class:`RouteRequest` instead).

Modules: ``errors`` (:class:`RuleError`), ``lexer`` (Go string literals, tokens), ``parser``
(grammar, matcher names, arity and value errors), ``matchers`` (the eleven matchers), ``goregex``
(Go RE2 -> Python ``re``), ``rule`` (tree, compiled test, host analysis), ``request``
(:class:`Routable`, :class:`RouteRequest`, routing path, query decoding), ``table`` (:class:`RoutingTable`).
The language reference is ``docs/rules.md``.
"""

from __future__ import annotations

from traefikpy.rules.errors import RuleError
from traefikpy.rules.parser import default_priority, parse_rule
from traefikpy.rules.request import Routable, RouteRequest, parse_query, routing_path
from traefikpy.rules.rule import Rule
from traefikpy.rules.table import Route, RoutingTable

__all__ = [
    "Routable", "Route", "RouteRequest", "Rule", "RuleError", "RoutingTable", "default_priority", "parse_query",
    "parse_rule", "routing_path",
]
