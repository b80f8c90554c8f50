"""defaultRule templates (providers.gotemplate): the Go text/template subset label providers use."""

from __future__ import annotations

import pytest

from providers.gotemplate import TemplateError, compile_template, normalize

DATA = {
    "Name": "web-demo",
    "ContainerName": "demo-web-1",
    "Labels": {"customLabel": "example.com", "com.docker.compose.project": "demo", "empty": ""},
}

RENDER = [
    {"desc": "Traefik's default rule", "tpl": "Host(`{{ normalize .Name }}`)", "out": "Host(`web-demo`)"},
    {"desc": "documented example with index on labels",
     "tpl": 'Host(`{{ .Name }}.{{ index .Labels "customLabel"}}`)', "out": "Host(`web-demo.example.com`)"},
    {"desc": "label with dots through index", "tpl": '{{ index .Labels "com.docker.compose.project" }}', "out": "demo"},
    {"desc": "map field syntax", "tpl": "{{ .Labels.customLabel }}", "out": "example.com"},
    {"desc": "missing map key prints <no value>", "tpl": "{{ .Labels.nope }}", "out": "<no value>"},
    {"desc": "index of a missing key is empty", "tpl": '{{ index .Labels "nope" }}', "out": ""},
    {"desc": "default on a missing key", "tpl": '{{ .Labels.nope | default "fallback" }}', "out": "fallback"},
    {"desc": "default on an empty value", "tpl": '{{ default "fallback" .Labels.empty }}', "out": "fallback"},
    {"desc": "ContainerName", "tpl": "{{ .ContainerName }}", "out": "demo-web-1"},
    {"desc": "root variable", "tpl": "{{ $.Name }}", "out": "web-demo"},
    {"desc": "pipeline passes the value last", "tpl": '{{ .Name | replace "-" "." | upper }}', "out": "WEB.DEMO"},
    {"desc": "printf", "tpl": '{{ printf "%s.%s" .Name "local" }}', "out": "web-demo.local"},
    {"desc": "printf %q and %d", "tpl": '{{ printf "%q=%d" .Name 7 }}', "out": '"web-demo"=7'},
    {"desc": "parenthesised pipeline", "tpl": '{{ (index .Labels "customLabel") | trimSuffix ".com" }}', "out": "example"},
    {"desc": "if/else with eq", "tpl": '{{ if eq .Name "web-demo" }}a{{ else }}b{{ end }}', "out": "a"},
    {"desc": "else if", "tpl": '{{ if eq .Name "x" }}a{{ else if .Labels.customLabel }}b{{ else }}c{{ end }}', "out": "b"},
    {"desc": "with moves the dot", "tpl": "{{ with .Labels.customLabel }}Host(`{{ . }}`){{ end }}", "out": "Host(`example.com`)"},
    {"desc": "with on a missing key takes else", "tpl": "{{ with .Labels.nope }}x{{ else }}y{{ end }}", "out": "y"},
    {"desc": "trim markers", "tpl": "a  {{- .Name -}}  b", "out": "aweb-demob"},
    {"desc": "comment", "tpl": "{{/* ignored */}}Host(`x`)", "out": "Host(`x`)"},
    {"desc": "raw string argument", "tpl": "{{ trimPrefix `web-` .Name }}", "out": "demo"},
    {"desc": "regexReplaceAll with Go groups", "tpl": '{{ regexReplaceAll "^(\\\\w+)-(\\\\w+)$" .Name "${2}-${1}" }}', "out": "demo-web"},
    {"desc": "splitList and first", "tpl": '{{ splitList "-" .Name | first }}', "out": "web"},
    {"desc": "and/or/not", "tpl": "{{ and .Name .Labels.empty }}|{{ or .Labels.empty .Name }}|{{ not .Labels.empty }}",
     "out": "|web-demo|true"},
    {"desc": "len", "tpl": "{{ len .Name }}", "out": "8"},
    {"desc": "plain text only", "tpl": "PathPrefix(`/api`)", "out": "PathPrefix(`/api`)"},
]


@pytest.mark.parametrize("case", RENDER, ids=[c["desc"] for c in RENDER])
def test_render(case: dict[str, str]) -> None:
    assert compile_template(case["tpl"]).render(DATA) == case["out"]


PARSE_ERRORS = [
    {"desc": "unknown function", "tpl": "{{ foo .Name }}", "msg": 'function "foo" not defined'},
    {"desc": "unclosed action", "tpl": "Host(`{{ .Name `)", "msg": "unclosed"},
    {"desc": "missing end", "tpl": "{{ if .Name }}x", "msg": "missing {{end}}"},
    {"desc": "stray end", "tpl": "x{{ end }}", "msg": "unexpected {{end}}"},
    {"desc": "range is not supported", "tpl": "{{ range .Labels }}{{ end }}", "msg": "not supported"},
    {"desc": "unknown variable", "tpl": "{{ $x }}", "msg": "undefined variable"},
]


@pytest.mark.parametrize("case", PARSE_ERRORS, ids=[c["desc"] for c in PARSE_ERRORS])
def test_parse_errors(case: dict[str, str]) -> None:
    with pytest.raises(TemplateError, match=case["msg"]):
        compile_template(case["tpl"])


EXEC_ERRORS = [
    {"desc": "unknown field of the data", "tpl": "{{ .Nope }}", "msg": "can't evaluate field Nope"},
    {"desc": "string function on a missing key", "tpl": "{{ lower .Labels.nope }}", "msg": "invalid value; expected string"},
    {"desc": "argument to a non-function", "tpl": "{{ .Name .Name }}", "msg": "non-function"},
    {"desc": "wrong arity", "tpl": "{{ lower }}", "msg": "wrong number of args"},
]


@pytest.mark.parametrize("case", EXEC_ERRORS, ids=[c["desc"] for c in EXEC_ERRORS])
def test_execution_errors(case: dict[str, str]) -> None:
    template = compile_template(case["tpl"])
    with pytest.raises(TemplateError, match=case["msg"]):
        template.render(DATA)


NORMALIZE = [
    {"desc": "docker name with slash", "name": "/my_container", "out": "my-container"},
    {"desc": "compose service_project", "name": "web_demo", "out": "web-demo"},
    {"desc": "runs of separators collapse", "name": "a..b--c__d", "out": "a-b-c-d"},
    {"desc": "leading and trailing separators trimmed", "name": "--x--", "out": "x"},
    {"desc": "unicode letters kept", "name": "café.app", "out": "café-app"},
]


@pytest.mark.parametrize("case", NORMALIZE, ids=[c["desc"] for c in NORMALIZE])
def test_normalize(case: dict[str, str]) -> None:
    assert normalize(case["name"]) == case["out"]
