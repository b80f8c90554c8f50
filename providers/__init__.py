"""Providers: each watches one configuration source and yields full ``DynamicConfig`` snapshots.

Each provider splits its I/O (watching the source) from its pure translation (table-tested), and
imports only ``traefikpy.config``, ``traefikpy.provider``, ``traefikpy.proxy.http`` and
``traefikpy.aio``.  The composition root (``traefikpy.app``) decides which ones run.
"""
