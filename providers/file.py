"""File provider: dynamic configuration from one file or a directory of YAML/TOML files.

I/O only: reading, watching and logging.  Parsing and validation are the shared decoder's
(:mod:`traefikpy.config.decode`); merging the files of a directory is
:func:`traefikpy.config.merge.merge_sources`.  Like Traefik, a directory is walked recursively and
only ``.yml``, ``.yaml`` and ``.toml`` files are read.  A file that fails to parse or validate
logs one error per problem (file, line, key path) and no snapshot is emitted: the last good
configuration stays live until the files are fixed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from traefikpy.config.decode import ConfigError, Locator, Problem, load_file, validate
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import merge_sources
from traefikpy.provider import ProviderSnapshot

log = logging.getLogger("traefikpy.providers.file")

SUFFIXES = (".yml", ".yaml", ".toml")


def config_files(directory: Path) -> list[Path]:
    """Every YAML/TOML file under ``directory`` (recursive, sorted, hidden files skipped)."""
    return sorted(
        p for p in directory.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def load_one(path: Path) -> tuple[DynamicConfig, Locator]:
    """One file's configuration and the line locator of its keys; raises ConfigError."""
    try:
        data, locator = load_file(path)
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read: {exc.strerror or exc}", str(path))]) from None
    return validate(DynamicConfig, data, source=str(path), locator=locator), locator


def load_paths(paths: list[Path]) -> ProviderSnapshot:
    """Parse and validate every file; raise ConfigError listing the problems of all of them."""
    parts: list[tuple[str, DynamicConfig]] = []
    problems = []
    for path in paths:
        try:
            parts.append((str(path), load_one(path)[0]))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return merge_sources(parts)


class FileProvider:
    """``providers.file``: ``filename`` or ``directory``, optionally watched."""

    def __init__(
        self,
        filename: str | None = None,
        directory: str | None = None,
        watch: bool = True,
        name: str = "file",
        throttle: float | None = None,
    ) -> None:
        if bool(filename) == bool(directory):
            raise ValueError("providers.file needs exactly one of filename or directory")
        self.name = name
        self.throttle = throttle
        self.filename = Path(filename) if filename else None
        self.directory = Path(directory) if directory else None
        self.watch_files = watch

    def paths(self) -> list[Path]:
        if self.filename is not None:
            return [self.filename]
        assert self.directory is not None
        return config_files(self.directory) if self.directory.is_dir() else []

    def load(self) -> ProviderSnapshot | None:
        """The current snapshot, or None (after logging every problem) when the files are bad."""
        try:
            return load_paths(self.paths())
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("file provider: %s (last good configuration kept)", problem)
            return None

    async def watch(self) -> AsyncIterator[ProviderSnapshot]:
        last = self.load()
        if last is not None:
            yield last
        if not self.watch_files:
            return
        from watchfiles import awatch

        # Watch the parent of a single file: editors replace files by renaming over them.
        root = self.directory if self.directory is not None else self.filename.parent  # type: ignore[union-attr]
        async for _changes in awatch(root, debounce=200, step=10, recursive=self.directory is not None):
            current = self.load()
            if current is not None and current != last:
                last = current
                yield current

    def __repr__(self) -> str:
        return f"<FileProvider {self.filename or self.directory} watch={self.watch_files}>"
