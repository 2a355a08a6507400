"""The replay policy names (DESIGN.md, "Replay policy"); a tiny module so the plugin loads fast."""

from typing import Literal

ReplayPolicy = Literal["either", "idempotent", "reject"]
REPLAY_POLICIES: tuple[ReplayPolicy, ...] = ("either", "idempotent", "reject")
