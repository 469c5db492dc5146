"""Paths that arrive over topics are loaded only from configured root directories.

Any DDS participant can publish a string on the controller's `~/checkpoint` or on the
learner's announcement topic. Without a check, that is "load any file on this computer".
`resolve_inside` resolves the path (`..` and every symlink, so a link inside a root that
points elsewhere is caught) and refuses it unless it lies under one of the roots. Topic
access itself is authenticated by SROS2 (docs/security.md); this is the second fence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class PathRefused(ValueError):
    """A path from outside lies outside the allowed roots; the message names both."""


def parse_roots(text: str) -> tuple[Path, ...]:
    """Root directories from a parameter value: `os.pathsep`- (":") or comma-separated."""
    parts = [p.strip() for p in text.replace(",", os.pathsep).split(os.pathsep)]
    return tuple(Path(p).expanduser() for p in parts if p)


def resolve_roots(roots: Iterable[Path | str]) -> tuple[Path, ...]:
    """Each root made absolute with symlinks resolved; duplicates dropped, order kept."""
    out: list[Path] = []
    for r in roots:
        p = Path(r).expanduser().resolve()
        if p not in out:
            out.append(p)
    return tuple(out)


def resolve_inside(path: str | Path, roots: tuple[Path, ...], what: str = "path") -> Path:
    """`path` fully resolved, if it exists and lies under one of `roots` (resolved already).

    Raises:
        PathRefused: the path is empty, does not exist, or resolves outside every root.
    """
    if not str(path).strip():
        raise PathRefused(f"{what}: empty path")
    if "\x00" in str(path):
        raise PathRefused(f"{what} {str(path)!r}: contains a NUL byte")
    try:
        real = Path(path).expanduser().resolve(strict=True)
    except FileNotFoundError as exc:
        raise PathRefused(f"{what} {str(path)!r} does not exist") from exc
    except (OSError, RuntimeError) as exc:  # a symlink loop, no permission
        raise PathRefused(f"{what} {str(path)!r} cannot be resolved: {exc}") from exc
    for root in roots:
        if real == root or root in real.parents:
            return real
    allowed = ", ".join(str(r) for r in roots) or "(none configured)"
    raise PathRefused(
        f"{what} {str(path)!r} resolves to {real}, outside the allowed roots: {allowed}"
    )


def checkpoint_roots(roots_text: str, startup_checkpoint: str) -> tuple[Path, ...]:
    """The controller's roots: `checkpoint_roots` plus the start-up checkpoint's directory."""
    trusted = (Path(startup_checkpoint).expanduser().parent,) if startup_checkpoint else ()
    return resolve_roots(parse_roots(roots_text) + trusted)
