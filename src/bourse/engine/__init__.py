"""The single writer: applies commands in order, commits each batch durably, then acknowledges."""

from bourse.engine.commands import *  # noqa: F403
from bourse.engine.engine import CommandFailed, Engine, EngineUnavailable

__all__ = ["CommandFailed", "Engine", "EngineUnavailable"]  # noqa: F405
