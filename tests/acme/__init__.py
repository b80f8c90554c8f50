"""ACME tests: pebble and BIND 9 fixtures, providers, certificate resolvers."""
