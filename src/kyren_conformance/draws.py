"""A plan's invalid values: drawn by hypothesis, or given back from the draws an earlier run kept (draw_cache.py).

A plan asks for each value by the name of its strategy (`strategies.named`), so kept draws are given back in the
order they were made without importing hypothesis, and each is checked on the way: a value the strategy could
not have drawn here (a corrupt or tampered file, the real token as a wrong one) is a miss, and everything is
drawn again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kyren_conformance import draw_cache

# draw(name, *args): a value of `strategies.named(name, *args)`
Draw = Callable[..., Any]
Plan = TypeVar("Plan")

LONG_VALUE_BYTES = 8192  # the size of strategies.long_text's values


class StaleDraws(Exception):
    """The kept draws do not fit this run (another plan, a value they may not take): draw them again."""


def is_json(body: bytes) -> bool:
    """Whether a JSON parser reads the bytes (a not-JSON body must not be)."""
    try:
        json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def fits(name: str, value: Any, args: Sequence[Any]) -> bool:
    """Whether a kept value is one the named strategy could have drawn here: a corrupt or foreign cache file never
    puts into a request what the suite would not send (a valid value as a wrong type, the real token as a wrong one).
    """
    if name == "other_json_type":
        kind = args[0]
        if kind == "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        if kind in ("array", "object"):
            return isinstance(value, list if kind == "array" else dict) and len(value) > 0
        return isinstance(value, bool) if kind == "boolean" else value is None
    if name == "fraction":
        return isinstance(value, float) and not value.is_integer()
    if name == "not_json_bytes":
        return isinstance(value, bytes) and len(value) >= 2 and not is_json(value)
    if name == "extra_fields":
        return isinstance(value, dict) and len(value) > 0 and not set(value) & set(args[0])
    if not isinstance(value, str) or not value:
        return False
    if name == "wrong_text":
        return value != args[0] and value.strip() != ""
    if name == "non_ascii_text":
        return all(ord(c) >= 0x80 for c in value)
    if name == "control_text":
        return value.startswith("\x00")
    if name == "long_text":
        return len(value) == LONG_VALUE_BYTES
    return name == "text_value" and value.isascii() and value.isprintable()


def by_hypothesis(plan: Callable[[Draw], Plan], run_seed: int) -> tuple[Plan, list[draw_cache.Drawn]]:
    """The plan with every value drawn by one hypothesis run, and the draws in the order they were made."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    from kyren_conformance import strategies

    planned: list[Plan] = []
    drawn: list[draw_cache.Drawn] = []

    # The first example hypothesis tries is the simplest ("0", [], ...); we keep the second, which exercises more.
    @settings(
        max_examples=2, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @seed(run_seed)
    @given(st.data())
    def draw_all(data: st.DataObject) -> None:
        drawn.clear()

        def draw(name: str, *args: Any) -> Any:
            value = data.draw(strategies.named(name, *args))
            drawn.append((name, value))
            return value

        planned[:] = [plan(draw)]

    draw_all()
    return planned[0], drawn


def replayed(plan: Callable[[Draw], Plan], kept: list[draw_cache.Drawn]) -> Plan:
    """The plan with the kept draws given back in the order they were made. StaleDraws when they do not fit."""
    queue = iter(kept)

    def draw(name: str, *args: Any) -> Any:
        kept_name, value = next(queue, ("", None))
        if kept_name != name or not fits(name, value, args):
            raise StaleDraws(name)
        return value

    result = plan(draw)
    if next(queue, None) is not None:  # a plan that draws less than was kept is another plan
        raise StaleDraws("more draws kept than made")
    return result


def kept_or_drawn(plan: Callable[[Draw], Plan], run_seed: int, folder: Path | None, key: str | None) -> Plan:
    """The plan with the draws kept under `key` in `folder` when they fit, else drawn by hypothesis (and kept)."""
    if folder is None or key is None:
        return by_hypothesis(plan, run_seed)[0]
    kept = draw_cache.load(folder, key)
    if kept is not None:
        try:
            return replayed(plan, kept)
        except StaleDraws:
            pass  # drawn again, and the file rewritten
    result, drawn = by_hypothesis(plan, run_seed)
    draw_cache.save(folder, key, drawn)
    return result
