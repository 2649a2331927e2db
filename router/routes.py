"""Routes from a ticket's queue to the destinations that receive it.

`[[router.routes]]` tables are tried in order and the first whose `queue`
matches decides (`"*"` matches every queue), like rules; `to` names one
destination or several, so one queue can fan out to two helpdesks. A route
that can never match (after a `"*"` route, or a second route for a queue)
is a configuration error, as is a destination that is not configured.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from router.errors import RouterConfigError
from router.validation import child_key, expect_table, expect_text, reject_unknown, type_name

ROUTE_KEYS = ("queue", "to")
ANY_QUEUE = "*"


@dataclass(frozen=True, slots=True)
class Route:
    queue: str  # a queue name or "*"
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Routes:
    routes: tuple[Route, ...] = ()

    def destinations_for(self, queue: str | None) -> tuple[str, ...]:
        """The destinations a ticket of this queue goes to; empty when no route matches."""
        for route in self.routes:
            if route.queue == ANY_QUEUE or route.queue == queue:
                return route.to
        return ()

    @property
    def destinations(self) -> frozenset[str]:
        return frozenset(name for route in self.routes for name in route.to)


def parse_routes(data: Any, destinations: Collection[str], path: str = "router.routes") -> Routes:
    if not isinstance(data, list | tuple):
        raise RouterConfigError(path, f"expected an array of tables ([[router.routes]]), got {type_name(data)}")
    routes: list[Route] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        key = f"{path}[{index}]"
        route = _route(item, key, destinations)
        if ANY_QUEUE in seen:
            raise RouterConfigError(
                key, f"can never match: {path}[{seen[ANY_QUEUE]}] before it has queue = \"*\" and matches every queue"
            )
        if route.queue in seen:
            raise RouterConfigError(
                child_key(key, "queue"),
                f"queue {route.queue!r} is already routed by {path}[{seen[route.queue]}], so this route never matches",
            )
        seen[route.queue] = index
        routes.append(route)
    return Routes(tuple(routes))


def _route(data: Any, key: str, destinations: Collection[str]) -> Route:
    table = expect_table(data, key)
    reject_unknown(table, ROUTE_KEYS, key)
    for required in ROUTE_KEYS:
        if required not in table:
            raise RouterConfigError(child_key(key, required), "required")
    queue = expect_text(table["queue"], child_key(key, "queue")).strip()
    to_key = child_key(key, "to")
    raw = table["to"]
    if isinstance(raw, str):
        names = [(expect_text(raw, to_key).strip(), to_key)]
    elif isinstance(raw, list | tuple) and raw:
        names = [(expect_text(n, f"{to_key}[{i}]").strip(), f"{to_key}[{i}]") for i, n in enumerate(raw)]
    else:
        raise RouterConfigError(
            to_key, f"expected a destination name or a non-empty array of them, got {type_name(raw)}"
        )
    for name, name_key in names:
        if name not in destinations:
            known = ", ".join(sorted(destinations)) or "none are configured"
            raise RouterConfigError(name_key, f"unknown destination {name!r}; [destinations] has: {known}")
    return Route(queue=queue, to=tuple(dict.fromkeys(name for name, _ in names)))
