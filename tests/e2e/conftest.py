"""Fixtures of the end-to-end suite: an installed agent CLI (or a skip saying why), a world."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agents import AGENTS, installed
from tests.e2e.world import World

_INSTALLED: dict[str, tuple[Path, str] | str] = {}


def agent_binary(name: str) -> tuple[Path, str]:
    """The agent's executable and version; the test is skipped when npm cannot provide it."""
    if name not in _INSTALLED:
        _INSTALLED[name] = installed(AGENTS[name])
    found = _INSTALLED[name]
    if isinstance(found, str):
        pytest.skip(f"{name} CLI unavailable: {found}")
    return found


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """``make_world(agent, **daemon_settings)``: a world with the daemon already running."""
    worlds: list[World] = []

    def make(agent: str, **overrides: Any) -> World:
        binary, _version = agent_binary(agent)
        world = World(tmp_path / f"w{len(worlds)}", agent, binary, **overrides)
        worlds.append(world)
        world.start_daemon()
        return world

    yield make
    for world in worlds:
        world.close()
