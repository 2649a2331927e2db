"""`[destinations.*]`, `[[router.routes]]`, `[dispatch]` and `[acks]`: validated at load, the key at fault named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_config
from router.routes import Route, Routes, parse_routes

ROOT = Path(__file__).resolve().parents[3]
HOOK = {"kind": "webhook", "url": "https://helpdesk.example.org/hooks/intake", "secret_env": "GATEWAY_DEST_MAIN_SECRET"}


def config(destinations: dict | None = None, routes: list | None = None, **sections: dict) -> object:
    router = {"default_queue": "general", **({"routes": routes} if routes is not None else {})}
    return parse_config({"destinations": destinations or {}, "router": router, **sections})


def fails(key: str, message: str, **kwargs: object) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key, caught.value
    assert re.search(message, caught.value.message), caught.value.message


def test_the_product_example_is_valid():
    parsed = config({"main": HOOK}, [{"queue": "*", "to": "main"}])
    assert parsed.destinations["main"]["kind"] == "webhook"  # type: ignore[attr-defined]


def test_first_matching_route_decides_and_may_fan_out():
    routes = parse_routes([{"queue": "network", "to": ["zd", "hook"]}, {"queue": "*", "to": "hook"}], {"zd", "hook"})
    assert routes == Routes((Route("network", ("zd", "hook")), Route("*", ("hook",))))
    assert routes.destinations_for("network") == ("zd", "hook")
    assert routes.destinations_for("general") == ("hook",)
    assert parse_routes([{"queue": "network", "to": "hook"}], {"hook"}).destinations_for("general") == ()


def test_route_errors_name_the_key():
    fails("router.routes[0].to", "unknown destination 'nope'", destinations={"main": HOOK},
          routes=[{"queue": "*", "to": "nope"}])
    fails("router.routes[1]", "can never match", destinations={"main": HOOK},
          routes=[{"queue": "*", "to": "main"}, {"queue": "network", "to": "main"}])
    fails("router.routes[1].queue", "already routed", destinations={"main": HOOK},
          routes=[{"queue": "a", "to": "main"}, {"queue": "a", "to": "main"}])
    fails("router.routes[0].to", "required", destinations={"main": HOOK}, routes=[{"queue": "a"}])
    fails("router.routes[0].via", "unknown key", destinations={"main": HOOK},
          routes=[{"queue": "a", "to": "main", "via": 1}])


def test_destination_errors_name_the_key():
    fails("destinations.main.kind", "unknown kind 'jira'", destinations={"main": {**HOOK, "kind": "jira"}})
    fails("destinations.main.secret_env", "required", destinations={"main": {"kind": "webhook", "url": HOOK["url"]}})
    fails("destinations.main.secret", "unknown key", destinations={"main": {**HOOK, "secret": "whsec_abc"}})
    fails("destinations.main.url", "credentials",
          destinations={"main": {**HOOK, "url": "https://user:pw@helpdesk.example.org/"}})
    fails("destinations.main.url", "http:// or https://", destinations={"main": {**HOOK, "url": "file:///etc"}})
    fails("destinations.main.secret_env", "environment variable",
          destinations={"main": {**HOOK, "secret_env": "whsec_c2VjcmV0"}})  # the secret itself, pasted
    fails("destinations.main.backoff_cap_s", "less than", destinations={"main": {**HOOK, "backoff_cap_s": 0.5,
                                                                                 "backoff_base_s": 2}})
    fails("destinations.zd.token_env", "required", destinations={"zd": {"kind": "zammad", "url": HOOK["url"]}})
    fails("destinations.ost.create_via", "json", destinations={"ost": {"kind": "osticket", "url": HOOK["url"],
                                                                        "key_env": "K", "create_via": "xml"}})
    fails("destinations.mail.to", "required", destinations={"mail": {"kind": "smtp", "host": "relay",
                                                                     "from_address": "gw@example.org"}})
    fails("destinations.\"ack:email\"", "destination name", destinations={"ack:email": HOOK})


def test_dispatch_and_acks_sections_are_checked():
    fails("dispatch.concurrency", "greater than 0", dispatch={"concurrency": 0})
    fails("dispatch.bogus", "unknown key", dispatch={"bogus": 1})
    fails("acks.from_address", "required", acks={"enabled": True})
    fails("acks.default_language", "one of", acks={"default_language": "fr"})
    fails("acks.smtp_tls", "one of", acks={"smtp_tls": "ssl"})
    fails("acks.from_address", "not an address", acks={"from_address": "Support <nobody>"})


def test_shipped_gateway_toml_loads_and_its_commented_delivery_examples_are_valid():
    shipped = ROOT / "gateway.toml"
    load_config(shipped)  # the file as shipped (examples commented out)
    text = shipped.read_text(encoding="utf-8")
    block = text[text.index("# --- outbox examples ---"):text.index("# --- end of outbox examples ---")]
    example = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in block.splitlines()[1:])
    data = tomllib.loads(example)
    parsed = parse_config({**data, "router": {"default_queue": "general", **data.get("router", {})}})
    assert set(parsed.destinations) == {"main", "zammad", "osticket", "mailbox"}
    assert [r["to"] for r in parsed.router["routes"]] == [["zammad", "main"], "main"]
