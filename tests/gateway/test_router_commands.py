"""`gateway train` and `gateway evaluate` as their own processes, and what counts as a confirmed ticket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from gateway.confirmed import confirmed_examples, confirmed_label
from normalize.refs import parse_ticket_id
from router.classifier import Classifier
from router.examples import LabelledExample
from storage.tables import tickets
from tests.router.corpus import generate, shuffled_labels
from tests.router.drafts import make_draft
from tests.support.http import portal_body, submit

ROOT = Path(__file__).resolve().parents[2]
MACRO_F1_FLOOR = 0.8


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def write_config(path: Path, db_url: str = "", router: str = "") -> Path:
    url = db_url or f"sqlite+aiosqlite:///{path.parent / 'gateway.db'}"
    path.write_text(f'[storage]\nurl = "{url}"\nauto_migrate = true\n[smtp]\nenabled = false\n'
                    f'[router]\ndefault_queue = "general"\n{router}', encoding="utf-8")
    return path


def write_jsonl(path: Path, examples: list[LabelledExample]) -> Path:
    rows = ({"subject": e.subject, "text": e.text, "label": e.label, "channel": e.channel,
             "portal_category": e.portal_category} for e in examples)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "history.jsonl", generate())


def test_train_writes_a_model_the_router_can_load(tmp_path, corpus_file):
    config = write_config(tmp_path / "gw.toml")
    out = tmp_path / "models" / "helpdesk.joblib"
    result = run_cli("--config", str(config), "train", "--examples", str(corpus_file), "--out", str(out),
                     "--name", "desk")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"model": str(out), "name": "desk", "examples": 192,
                      "labels": {"accounts/password": 48, "billing/invoice": 48, "hardware": 48, "network": 48}}
    assert "trained 'desk' on 192 examples with 4 labels" in result.stderr
    model = Classifier.load(out)
    assert model.name == "desk"
    assert model.predict(make_draft(subject="Számla", text="A számla összege hibás."))[0] == "billing/invoice"


def test_train_writes_to_the_configured_model_path_by_default(tmp_path, corpus_file):
    config = write_config(tmp_path / "gw.toml", router='[router.model]\npath = "models/router.joblib"\n')
    result = run_cli("--config", str(config), "train", "--examples", str(corpus_file))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "router"
    assert (tmp_path / "models" / "router.joblib").is_file()
    bare = write_config(tmp_path / "bare.toml")
    result = run_cli("--config", str(bare), "train", "--examples", str(corpus_file))
    assert result.returncode == 2 and "give --out" in result.stderr


def test_evaluate_prints_held_out_scores_above_the_floor(tmp_path, corpus_file):
    config = write_config(tmp_path / "gw.toml")
    result = run_cli("--config", str(config), "evaluate", "--examples", str(corpus_file), "--test-size", "0.25")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert (scores["n_train"], scores["n_test"], scores["labels"]) == (144, 48, 4)
    assert scores["macro_f1"] >= MACRO_F1_FLOOR and scores["accuracy"] >= MACRO_F1_FLOOR
    assert f"macro-F1 {scores['macro_f1']:.3f} on 48 held-out examples (trained on 144)" in result.stderr


def test_evaluate_fails_under_a_floor_that_broken_labels_miss(tmp_path):
    config = write_config(tmp_path / "gw.toml")
    broken = write_jsonl(tmp_path / "broken.jsonl", shuffled_labels(generate()))
    result = run_cli("--config", str(config), "evaluate", "--examples", str(broken), "--fail-under", "0.8")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["macro_f1"] < MACRO_F1_FLOOR
    assert "is below 0.8" in result.stderr


@pytest.mark.parametrize(
    ("command", "name", "content", "message"),
    [
        ("train", "bad.jsonl", '{"text": "vpn", "label": "network"}\n{"text": "printer"}\n', "bad.jsonl:2: no label"),
        ("train", "bad.csv", "text,label\nvpn,network\n,hardware\n", "bad.csv:3: no text"),
        ("evaluate", "bad.jsonl", "{oops\n", "bad.jsonl:1: invalid JSON"),
        ("train", "bad.txt", "vpn", "expected a .csv or .jsonl file"),
        ("train", "one.csv", "text,label\nvpn,network\nwifi,network\n", "at least two different labels"),
        ("evaluate", "thin.csv", "text,label\nvpn,network\nwifi,network\nprinter,hardware\n",
         "at least 2 examples per label"),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_line(tmp_path, command, name, content, message):
    config = write_config(tmp_path / "gw.toml")
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = run_cli("--config", str(config), command, "--examples", str(path), *(
        ["--out", str(tmp_path / "m.joblib")] if command == "train" else []))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "m.joblib").exists()


def test_other_bad_arguments_exit_2(tmp_path, corpus_file):
    config = write_config(tmp_path / "gw.toml")
    missing = run_cli("--config", str(config), "evaluate", "--examples", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "none.csv" in missing.stderr
    size = run_cli("--config", str(config), "evaluate", "--examples", str(corpus_file), "--test-size", "1.5")
    assert size.returncode == 2 and "--test-size" in size.stderr
    both = run_cli("--config", str(config), "train", "--examples", str(corpus_file), "--from-tickets")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "m.joblib").mkdir()  # a directory where the model file should go
    unwritable = run_cli("--config", str(config), "train", "--examples", str(corpus_file),
                         "--out", str(tmp_path / "ro" / "m.joblib"))
    assert unwritable.returncode == 2 and "cannot write the model" in unwritable.stderr


# -- training from confirmed tickets -------------------------------------------------------------


@pytest.mark.parametrize(
    ("classification", "label"),
    [
        ({"queue": "network", "category": "vpn", "confirmed": True}, "network/vpn"),
        ({"queue": "network", "category": None, "confirmed": True}, "network"),
        ({"queue": "general", "confirmed_category": "billing/invoice"}, "billing/invoice"),
        ({"queue": "billing", "category": "Hardware", "confirmed_category": "refund"}, "billing/refund"),
        ({"queue": "network", "category": "vpn", "confirmed": False, "confirmed_category": "wifi"}, "network/wifi"),
        ({"queue": "network", "category": "vpn"}, None),
        ({"queue": "network", "confirmed": "yes"}, None),
        ({"queue": "network", "confirmed_category": "  "}, None),
        ({"confirmed": True}, None),
    ],
)
def test_what_counts_as_confirmed(classification: dict[str, Any], label: str | None):
    assert confirmed_label(classification) == label


async def confirm(gw: Any, ticket_id: str, **marks: Any) -> None:
    """What a helpdesk sync does when an agent confirms or corrects a ticket's category."""
    number = parse_ticket_id(ticket_id)
    stored = (await gw.store.get_ticket(number))[0].classification
    async with gw.store.transaction() as tx:
        await tx.connection.execute(
            update(tickets).where(tickets.c.id == number).values(classification={**stored, **marks}))


TICKETS = [  # (subject, body, portal category, confirmation)
    ("VPN", "The VPN drops every hour.", "Network", {"confirmed_category": "network/vpn"}),
    ("Wifi", "The wifi in room 4 is gone.", None, {"confirmed_category": "network/vpn"}),
    ("Invoice", "I was charged twice.", "Hardware", {"confirmed_category": "billing/invoice"}),
    ("Refund", "Please refund my payment.", None, {"queue": "billing", "category": "invoice", "confirmed": True}),
    ("Printer", "The printer jams.", "Hardware", {"queue": "hardware", "category": None, "confirmed": True}),
    ("Hello", "Unconfirmed guess.", None, {}),
]


async def test_confirmed_tickets_become_examples_and_train_a_model(start_gateway, http, db_url, tmp_path):
    gw = await start_gateway()
    for subject, body, category, marks in TICKETS:
        extra = {"category": category} if category else {}
        _, ids, _ = await submit(http, gw, portal_body(subject=subject, body=body, **extra))
        if marks:
            await confirm(gw, ids["ticket_id"], **marks)

    examples = await confirmed_examples(gw.store)
    assert [(e.subject, e.label, e.channel, e.portal_category) for e in examples] == [
        ("VPN", "network/vpn", "portal", "Network"),
        ("Wifi", "network/vpn", "portal", None),
        ("Invoice", "billing/invoice", "portal", "Hardware"),
        ("Refund", "billing/invoice", "portal", None),
        ("Printer", "hardware", "portal", "Hardware"),
    ]
    assert examples[0].text == "The VPN drops every hour."

    config = write_config(tmp_path / "gw.toml", db_url)
    out = tmp_path / "from-tickets.joblib"
    result = await asyncio.to_thread(run_cli, "--config", str(config), "train", "--from-tickets", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["labels"] == {"billing/invoice": 2, "hardware": 1, "network/vpn": 2}
    assert Classifier.load(out).labels == ("billing/invoice", "hardware", "network/vpn")


async def test_no_confirmed_tickets_is_bad_input(start_gateway, http, db_url, tmp_path):
    gw = await start_gateway()
    await submit(http, gw, portal_body())
    config = write_config(tmp_path / "gw.toml", db_url)
    result = await asyncio.to_thread(run_cli, "--config", str(config), "train", "--from-tickets",
                                     "--out", str(tmp_path / "m.joblib"))
    assert result.returncode == 2
    assert "no confirmed tickets" in result.stderr
