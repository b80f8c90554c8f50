"""Configuration: static (install) and dynamic (routing) models, and the one decoder.

Every model derives from :class:`traefikpy.config.base.Model`: frozen, ``extra="forbid"``, with
Traefik's camelCase key names as aliases.  Two snapshots compare equal when their values do.
"""
