"""The tracking tests' fixtures: the real client against the simulator, the fake Bot API server."""

from tests.tracking.conftest import bot, panel, sim, state, tg

__all__ = ["bot", "panel", "sim", "state", "tg"]
