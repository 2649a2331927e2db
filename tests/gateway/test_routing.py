"""Routing through a real gateway: rules, the configured model, start-up checks and the explain endpoint."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import pytest

from gateway.config import ConfigError, parse_config
from gateway.routing import build_router
from normalize.schema import Channel, Transport
from router.classifier import Classifier
from router.training import train
from tests.conftest import API_TOKEN, PORTAL_TOKEN, base
from tests.router.corpus import generate
from tests.router.drafts import MONDAY_10_UTC, make_draft
from tests.support.http import auth, get_ticket, portal_body, submit

RULES: list[dict[str, Any]] = [
    {"name": "vip", "when": {"sender_domain": "board.example.org"}, "set": {"queue": "vip", "priority": "urgent"}},
    {"name": "vpn", "when": {"channel": ["email", "portal"], "text": "(?i)\\bvpn\\b"},
     "set": {"queue": "network", "priority": "high", "tags": ["vpn", "remote"]}},
    {"name": "invoices", "when": {"field.form": "invoice", "attachment_type": "application/pdf"},
     "set": {"queue": "billing", "category": "invoice"}},
]
BILLING_TEXT = "I was charged twice this month, please refund the payment."
VAGUE_TEXT = "Lorem ipsum dolor sit amet."


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on the generated multilingual corpus, saved where a test configuration points."""
    path = tmp_path_factory.mktemp("models") / "helpdesk.joblib"
    train(generate(), name="helpdesk").save(path)
    return path


def with_model(model_file: Path, tmp_path: Path, threshold: float = 0.6, **router: Any) -> dict[str, Any]:
    """A `[router]` table whose model path is relative to the configuration's directory (`tmp_path`)."""
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "helpdesk.joblib").write_bytes(model_file.read_bytes())
    return {"default_queue": "general", "model": {"path": "models/helpdesk.joblib", "threshold": threshold},
            **router}


# -- rules, end to end ---------------------------------------------------------------------------


async def test_a_matching_rule_sets_queue_priority_and_tags(start_gateway, http):
    gw = await start_gateway(router={"default_queue": "general", "rules": RULES})
    status, ids, _ = await submit(http, gw, portal_body(subject="Remote work", body="My VPN drops every hour.",
                                                        category="Hardware"))
    assert status == 202
    classification = (await get_ticket(http, gw, ids["ticket_id"]))["classification"]
    assert classification["decided_by"] == "rule:vpn"
    assert (classification["queue"], classification["priority"]) == ("network", "high")
    assert classification["tags"] == ["vpn", "remote"]
    assert classification["category"] == "Hardware"  # the user's pick survives as the category, not the route
    assert [(t["rule"], t["matched"]) for t in classification["tried"]] == [("vip", False), ("vpn", True)]
    assert "sender_domain" in classification["tried"][0]["reason"]
    assert "'VPN' matches" in classification["tried"][1]["reason"]


async def test_the_portal_category_is_only_a_hint(start_gateway, http):
    gw = await start_gateway(router={"default_queue": "general", "rules": RULES})
    _, ids, _ = await submit(http, gw, portal_body(subject="Printer", body="The printer jams.", category="Network"))
    classification = (await get_ticket(http, gw, ids["ticket_id"]))["classification"]
    assert (classification["queue"], classification["decided_by"]) == ("general", "default")
    assert classification["category"] == "Network"
    assert all(not t["matched"] for t in classification["tried"])


async def test_rules_read_form_fields_and_attachment_types(start_gateway, http):
    gw = await start_gateway(router={"default_queue": "general", "rules": RULES})
    pdf = {"filename": "march.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}
    _, ids, _ = await submit(http, gw, portal_body(body="See attached.", fields={"form": "Invoice"},
                                                   attachments=[pdf]))
    classification = (await get_ticket(http, gw, ids["ticket_id"]))["classification"]
    assert classification["decided_by"] == "rule:invoices"
    assert (classification["queue"], classification["category"]) == ("billing", "invoice")
    _, ids, _ = await submit(http, gw, portal_body(body="No file.", fields={"form": "invoice"}))
    assert (await get_ticket(http, gw, ids["ticket_id"]))["classification"]["decided_by"] == "default"


# -- the model, end to end -----------------------------------------------------------------------


async def test_the_configured_model_decides_above_its_threshold(start_gateway, http, model_file, tmp_path):
    gw = await start_gateway(router=with_model(model_file, tmp_path, rules=RULES))
    _, clear, _ = await submit(http, gw, portal_body(subject="Invoice", body=BILLING_TEXT))
    _, vague, _ = await submit(http, gw, portal_body(subject="Hello", body=VAGUE_TEXT))
    _, ruled, _ = await submit(http, gw, portal_body(subject="VPN", body="The VPN is down."))

    decided = (await get_ticket(http, gw, clear["ticket_id"]))["classification"]
    assert decided["decided_by"] == "model:helpdesk"
    assert (decided["queue"], decided["category"]) == ("billing", "invoice")
    assert decided["confidence"] >= 0.6
    assert decided["tried"][-1]["rule"] == "model:helpdesk" and decided["tried"][-1]["matched"]

    fallback = (await get_ticket(http, gw, vague["ticket_id"]))["classification"]
    assert (fallback["decided_by"], fallback["queue"], fallback["confidence"]) == ("default", "general", None)
    assert fallback["tried"][-1]["rule"] == "model:helpdesk" and not fallback["tried"][-1]["matched"]
    assert "< threshold 0.60" in fallback["tried"][-1]["reason"]

    by_rule = (await get_ticket(http, gw, ruled["ticket_id"]))["classification"]
    assert by_rule["decided_by"] == "rule:vpn"  # rules come first; the model is not even asked
    assert all(not t["rule"].startswith("model:") for t in by_rule["tried"])


async def test_a_high_threshold_leaves_the_decision_to_the_default(start_gateway, http, model_file, tmp_path):
    gw = await start_gateway(router=with_model(model_file, tmp_path, threshold=1.0))
    _, ids, _ = await submit(http, gw, portal_body(subject="Invoice", body=BILLING_TEXT))
    classification = (await get_ticket(http, gw, ids["ticket_id"]))["classification"]
    assert (classification["decided_by"], classification["queue"]) == ("default", "general")


async def test_without_a_model_table_no_model_is_used(start_gateway, http, model_file, tmp_path):
    (tmp_path / "helpdesk.joblib").write_bytes(model_file.read_bytes())  # present, but not configured
    gw = await start_gateway(router={"default_queue": "general", "rules": RULES})
    _, ids, _ = await submit(http, gw, portal_body(subject="Invoice", body=BILLING_TEXT))
    classification = (await get_ticket(http, gw, ids["ticket_id"]))["classification"]
    assert (classification["decided_by"], classification["queue"]) == ("default", "general")
    assert [t["rule"] for t in classification["tried"]] == ["vip", "vpn", "invoices"]


# -- loading the model at start ------------------------------------------------------------------


def config_with(router: dict[str, Any], base_dir: Path) -> Any:
    return parse_config({"storage": {"url": f"sqlite+aiosqlite:///{base_dir / 'g.db'}"}, "router": router},
                        base_dir=base_dir)


def test_the_model_path_is_read_from_the_configuration_directory(model_file, tmp_path):
    router = build_router(config_with(with_model(model_file, tmp_path), tmp_path))
    assert router.model is not None and router.model.name == "helpdesk"
    absolute = build_router(config_with({"default_queue": "q", "model": {"path": str(model_file)}}, tmp_path))
    assert absolute.model is not None


def test_a_missing_model_fails_start_up_naming_the_key_and_the_fix(tmp_path):
    config = config_with({"default_queue": "general", "model": {"path": "models/none.joblib"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"router\.model\.path: .*none\.joblib: no such model file; train one"):
        build_router(config)
    from gateway.app import Gateway
    from gateway.config import Secrets

    with pytest.raises(ConfigError, match="no such model file"):
        Gateway(config, Secrets())


def test_a_stale_model_fails_start_up_saying_retrain(model_file, tmp_path):
    stale = tmp_path / "stale.joblib"
    joblib.dump({**joblib.load(model_file), "sklearn_version": "0.24.2"}, stale)
    config = config_with({"default_queue": "general", "model": {"path": "stale.joblib"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"router\.model\.path: .*scikit-learn 0\.24\.2.*retrain"):
        build_router(config)


def test_hours_are_decided_at_the_receipt_time_so_a_replay_decides_the_same(tmp_path):
    rule = {"name": "office", "when": {"hours": "Mon-Fri 09:00-17:00"}, "timezone": "Europe/Budapest",
            "set": {"queue": "desk"}}
    router = build_router(config_with({"default_queue": "night", "rules": [rule]}, tmp_path))
    draft = make_draft(received_at=MONDAY_10_UTC)  # 11:00 in Budapest
    sunday_night = datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    assert router.classify([draft], sunday_night)[0]["decided_by"] == "rule:office"
    late = replace(draft, received_at=datetime(2026, 3, 2, 16, 30, tzinfo=UTC))  # 17:30 in Budapest
    assert router.classify([late], MONDAY_10_UTC)[0]["queue"] == "night"


# -- POST /v1/route/explain ----------------------------------------------------------------------


def sample(**changes: Any) -> dict[str, Any]:
    return {"channel": "email", "subject": "VPN broken", "text": "The VPN drops.",
            "requester": {"email": "ann@example.org", "name": "Ann"}, **changes}


async def explain(http, gw, body: Any, token: str = API_TOKEN) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{base(gw)}/v1/route/explain", json=body, headers=auth(token)) as resp:
        return resp.status, await resp.json()


async def test_explain_answers_the_decision_and_why_and_stores_nothing(start_gateway, http):
    gw = await start_gateway(router={"default_queue": "general", "rules": RULES})
    status, decision = await explain(http, gw, sample(category="Hardware"))
    assert status == 200, decision
    assert decision == {
        "queue": "network", "category": "Hardware", "priority": "high", "tags": ["vpn", "remote"],
        "decided_by": "rule:vpn", "confidence": None,
        "tried": [
            {"rule": "vip", "matched": False,
             "reason": "sender_domain: 'example.org', 'org' not in 'board.example.org'"},
            {"rule": "vpn", "matched": True,
             "reason": "channel: 'email' is one of 'email', 'portal'; text: 'VPN' matches '(?i)\\\\bvpn\\\\b'"},
        ],
    }
    status, decision = await explain(http, gw, sample(
        channel="portal", subject="Invoice", text="See the file.", fields={"form": "invoice"},
        attachments=[{"name": "a.pdf", "content_type": "application/pdf"}]))
    assert (status, decision["decided_by"], decision["queue"]) == (200, "rule:invoices", "billing")
    status, decision = await explain(http, gw, sample(requester={"email": "ceo@board.example.org"}))
    assert (decision["decided_by"], decision["priority"]) == ("rule:vip", "urgent")

    assert await gw.store.count_by_status() == {}
    page = await gw.store.list_tickets(channel=None, since=None, limit=10, cursor=None)
    assert page.tickets == []


async def test_explain_reads_recipients_transport_and_received_at(start_gateway, http):
    rules = [{"name": "sales-box", "when": {"recipient": "@sales.example.org", "transport": "imap"},
              "set": {"queue": "sales"}},
             {"name": "night", "when": {"hours": "18:00-08:00"}, "timezone": "Europe/Budapest",
              "set": {"queue": "oncall"}}]
    gw = await start_gateway(router={"default_queue": "general", "rules": rules})
    _, decision = await explain(http, gw, sample(transport="imap", recipients=["Orders@Sales.Example.org"]))
    assert decision["decided_by"] == "rule:sales-box"
    _, decision = await explain(http, gw, sample(received_at="2026-03-02T20:30:00Z"))
    assert decision["decided_by"] == "rule:night"
    assert "Mon 21:30 (Europe/Budapest)" in decision["tried"][-1]["reason"]
    _, decision = await explain(http, gw, sample(received_at="2026-03-02T10:00:00+01:00"))
    assert decision["decided_by"] == "default"


async def test_explain_shows_the_model_and_its_confidence(start_gateway, http, model_file, tmp_path):
    gw = await start_gateway(router=with_model(model_file, tmp_path))
    _, decision = await explain(http, gw, sample(channel="telegram", subject="", text=BILLING_TEXT))
    assert decision["decided_by"] == "model:helpdesk"
    assert decision["confidence"] >= 0.6
    assert decision["tried"] == [{"rule": "model:helpdesk", "matched": True, "reason": decision["tried"][0]["reason"]}]
    assert decision["tried"][0]["reason"].startswith("label 'billing/invoice' at ")


async def test_explain_needs_the_api_token(start_gateway, http):
    gw = await start_gateway()
    for token in ("", "wrong", PORTAL_TOKEN):
        status, body = await explain(http, gw, sample(), token=token)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
    async with http.post(f"{base(gw)}/v1/route/explain", json=sample()) as resp:
        assert resp.status == 401


async def test_explain_refuses_malformed_json_with_400(start_gateway, http):
    gw = await start_gateway()
    headers = {**auth(API_TOKEN), "Content-Type": "application/json"}
    async with http.post(f"{base(gw)}/v1/route/explain", data=b'{"channel": ', headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "malformed_json"


INVALID_SAMPLES: list[tuple[Any, str]] = [
    ([1, 2], ""),
    ({"subject": "s", "text": "t", "requester": {}}, "channel"),
    (sample(channel="fax"), "channel"),
    (sample(channel=3), "channel"),
    (sample(transport="smtp", channel="portal"), "transport"),
    (sample(transport="pigeon"), "transport"),
    ({k: v for k, v in sample().items() if k != "text"}, "text"),
    (sample(subject=None), "subject"),
    (sample(requester="ann"), "requester"),
    (sample(requester={"email": 5}), "requester.email"),
    (sample(requester={"telegram_id": "x"}), "requester.telegram_id"),
    (sample(requester={"mail": "a@b.org"}), "requester.mail"),
    (sample(fields=[1]), "fields"),
    (sample(recipients="a@b.org"), "recipients"),
    (sample(recipients=["nobody"]), "recipients[0]"),
    (sample(attachments={}), "attachments"),
    (sample(attachments=[{"name": "x"}]), "attachments[0].content_type"),
    (sample(attachments=[{"content_type": "pdf"}]), "attachments[0].content_type"),
    (sample(attachments=[{"content_type": "a/b", "size": 3}]), "attachments[0].size"),
    (sample(received_at="yesterday"), "received_at"),
    (sample(received_at="2026-03-02T10:00:00"), "received_at"),
    (sample(body="portal's key"), "body"),
]


async def test_explain_names_the_invalid_field_with_422(start_gateway, http):
    gw = await start_gateway()
    for body, field in INVALID_SAMPLES:
        status, answer = await explain(http, gw, body)
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (422, "invalid", field), body


def test_explain_defaults_the_transport_of_each_channel():
    from gateway.explain import sample_draft

    now = datetime(2026, 3, 2, tzinfo=UTC)
    expected = {"email": Transport.SMTP, "telegram": Transport.POLLING, "phone": Transport.HTTP,
                "portal": Transport.HTTP}
    for channel, transport in expected.items():
        draft = sample_draft(sample(channel=channel), now)
        assert (draft.channel, draft.transport, draft.received_at) == (Channel(channel), transport, now)


# -- the fast scorer the intake path uses --------------------------------------------------------


def test_the_fast_scorer_gives_the_pipelines_probabilities(model_file, monkeypatch):
    import numpy as np

    from gateway import model_scorer
    from gateway.model_scorer import FastClassifier, FastScorer
    from router.classifier import Classifier

    model = Classifier.load(model_file)
    fast = FastClassifier.wrap(model)
    assert fast.scorer is not None
    monkeypatch.setattr(model_scorer, "WORD_CACHE_SIZE", 50)  # the cache empties itself many times below
    texts = [e.features() for e in generate(per_language_and_label=3, seed=99)]
    texts += ["", "   \n\t ", "VPN " * 300, "Ünïcödé ß ǅ ﬁ İstanbul ΣΊΣΥΦΟΣ x"]
    expected = model.pipeline.predict_proba(texts)
    got = np.array([fast.scorer.probabilities(text) for text in texts])
    assert np.allclose(got, expected, rtol=0.0, atol=1e-12)
    assert np.allclose(fast.scorer.probabilities_many(texts), expected, rtol=0.0, atol=1e-12)
    assert [label for label, _ in fast.predict_many([])] == []
    for example in generate(per_language_and_label=2, seed=5):
        draft = make_draft(subject=example.subject, text=example.text, category_hint=example.portal_category)
        assert fast.predict(draft) == pytest.approx(model.predict(draft), abs=1e-12)
    assert type(fast.scorer.counts).__name__ == "_WordCounts"  # the per-word path, not the analyzer's
    assert fast.scorer.counts.known <= 50 + max(len(t.split()) for t in texts)  # type: ignore[attr-defined]
    assert FastScorer.compile(model.pipeline, probes=["x"]) is not None


def test_the_fast_scorer_finds_the_words_str_split_finds(model_file):
    """Words are found and hashed as arrays of code points, not by `str.split`: every Unicode whitespace
    character separates words, characters past the hash table's (CJK, emoji, a lone surrogate) and words
    too long to hash are words like any other, and texts are never joined into one another's words."""
    import numpy as np

    from gateway import model_scorer
    from gateway.model_scorer import FastClassifier

    spaces = [chr(code) for code in range(0x110000) if chr(code).isspace()]
    assert max(map(ord, spaces)) < model_scorer._VALUED  # every whitespace character has its table value, 0
    model = Classifier.load(model_file)
    fast = FastClassifier.wrap(model)
    assert fast.scorer is not None
    known = ["vpn", "printer", "számla", "jelszó", "akun", "drucker"]  # words the model weighs
    texts = [space.join(known[i % len(known)] for i in range(n, n + 4)) for n, space in enumerate(spaces)]
    long_word = "vpn" * (model_scorer.LONGEST_HASHED // 3 + 1)
    texts += [
        "vpn", "", "printer", "   ", "számla\u3000打印机坏了 😀 vpn", "\ud800vpn printer\udfff", long_word,
        f"{long_word} printer {long_word}", "ΣΊΣΥΦΟΣ vpn", "vpn" * 80, "x", "\n\nvpn\n\n",
        # ASCII case is folded by the hash values (no lowercased copy), other scripts' by str.lower
        "VPN Printer PRINTER vPn", f"{long_word.upper()} Printer {long_word}", "SZÁMLA VPN", "İstanbul VPN",
    ]
    for round_ in range(2):  # the second time every word is read from the index, not learned
        got = fast.scorer.probabilities_many(texts)
        assert np.allclose(got, model.pipeline.predict_proba(texts), rtol=0.0, atol=1e-12), round_
    alone = np.array([fast.scorer.probabilities(text) for text in texts])
    assert np.allclose(alone, model.pipeline.predict_proba(texts), rtol=0.0, atol=1e-12)
    assert long_word in fast.scorer.counts._long  # type: ignore[attr-defined]  # looked up by its text


def test_thue_morse_words_do_not_collide_in_the_fast_scorers_hashes_even_when_two_letters_values_nearly_agree():
    """The known collision of polynomial hashes modulo 2**64: two letters in Thue-Morse order and the same
    word with the letters swapped. Their hashes differ by the letters' difference times factors of 2 the
    base decides; with the base the scorer draws, words of up to `LONGEST_HASHED` characters collide only
    when the letters' secret values agree in their low 20 bits. Here they agree in 19, on purpose; a base of
    1 modulo 32 (one in eight odd bases, which an unconstrained draw gives) makes every such pair collide."""
    import numpy as np

    from gateway import model_scorer

    order = model_scorer.LONGEST_HASHED.bit_length() - 1
    assert 2**order == model_scorer.LONGEST_HASHED
    thue_morse = "a"
    for _ in range(order):
        thue_morse += thue_morse.translate(str.maketrans("ab", "ba"))
    swapped = thue_morse.translate(str.maketrans("ab", "ba"))
    for _ in range(64):  # fresh secrets each time: with an unconstrained base this fails with odds 1 - (7/8)**64
        hashes = model_scorer._WordHashes()
        hashes._values[ord("b")] = hashes._values[ord("a")] ^ np.uint64(1 << 19)
        first, second = hashes.strings([thue_morse, swapped])
        assert first != second
        assert hashes._base % 8 in (3, 5)


def test_the_fast_scorers_hash_index_finds_every_entry_when_many_share_one_slot_and_one_batch():
    """Entries added together that want the same slots each get one of their own, however many share a home
    slot (here forty, in one batch and then another, ending past the table's last slot), and a hash never
    added finds nothing, even one whose home slot is crowded."""
    import numpy as np

    from gateway.model_kernels import GOLDEN
    from gateway.model_scorer import _HashIndex

    index = _HashIndex(1000)
    slots = len(index.rows)
    inverse = pow(int(GOLDEN), -1, 2**64)
    # (h * golden) mod 2**64 == k << shift puts h in home slot k: the top bits of the product pick it.
    def at_slot(slot: int, count: int) -> np.ndarray:
        shift = 64 - (slots - 1).bit_length()
        return np.array([((slot << shift) + n + 1) * inverse % 2**64 for n in range(count)], dtype=np.uint64)

    crowded = at_slot(slots - 10, 40)  # forty entries, one home slot ten before the end: they wrap around
    index.add(crowded[:25], np.arange(25))
    index.add(crowded[25:], np.arange(25, 40))
    spread = at_slot(3, 5)  # home slots the crowd ran over
    index.add(spread, np.arange(100, 105))
    assert index.look_up(crowded).tolist() == list(range(40))
    assert index.look_up(spread).tolist() == list(range(100, 105))
    assert index.look_up(at_slot(slots - 10, 45)[40:]).tolist() == [-1] * 5
    assert (index.rows >= 0).sum() == 45  # nothing written twice, nothing lost


def test_the_fast_scorers_word_characters_are_those_re_takes_for_w():
    """New words' tokens are runs of these characters, as the "word" vectorizer's pattern `\\b\\w\\w+\\b` finds them."""
    import re

    import numpy as np

    from gateway.model_scorer import _word_characters

    every = "".join(map(chr, range(0x110000)))
    by_re = np.frombuffer(re.sub(r"(?u)\W", "\0", every).encode("utf-32-le", "surrogatepass"), dtype=np.uint32) != 0
    assert np.array_equal(_word_characters(), by_re)


def test_the_fast_scorer_keeps_thousands_of_new_words_without_losing_one(model_file):
    """The tables of known words grow past their first room (1,024 words, 16,384 columns) while batches
    bring new words, and words learned long before are read back from them as they were."""
    import numpy as np

    from gateway.model_scorer import FastClassifier
    from router.classifier import Classifier

    model = Classifier.load(model_file)
    fast = FastClassifier.wrap(model)
    assert fast.scorer is not None
    texts = [f"Printer ref-{n:05d}x, számla {n * 7919} VPN{n} jelszó" for n in range(2_000)]
    for start in range(0, len(texts), 64):
        batch = texts[start:start + 64]
        assert np.allclose(fast.scorer.probabilities_many(batch), model.pipeline.predict_proba(batch),
                           rtol=0.0, atol=1e-12)
    counts = fast.scorer.counts
    assert counts.known > 5_000  # type: ignore[attr-defined]
    chars = counts._tables[1]  # type: ignore[attr-defined]
    assert len(chars.indptr) > 1_025 and len(chars.columns) > 16_384
    again = texts[:64] + texts[-64:]
    assert np.allclose(fast.scorer.probabilities_many(again), model.pipeline.predict_proba(again), rtol=0.0, atol=1e-12)


def test_the_fast_scorer_handles_two_labels_and_refuses_other_pipelines():
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

    from gateway.model_scorer import FastClassifier, FastScorer
    from router.examples import LabelledExample

    binary = train([LabelledExample("printer jammed", "hardware"), LabelledExample("vpn down", "network"),
                    LabelledExample("vpn slow", "network")], name="tiny")
    scorer = FastScorer.compile(binary.pipeline)
    assert scorer is not None and scorer.binary
    text = "the vpn is slow"
    assert np.allclose(scorer.probabilities(text), binary.pipeline.predict_proba([text])[0], atol=1e-12)

    # Models trained before word bigrams were dropped are scored text by text, with the same result.
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.pipeline import FeatureUnion  # type: ignore[import-untyped]

    texts = [e.features() for e in generate(per_language_and_label=2, seed=3)]
    labels = [e.label for e in generate(per_language_and_label=2, seed=3)]
    union = FeatureUnion([("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                          ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3)))])
    older = Pipeline([("features", union), ("model", LogisticRegression(max_iter=500))]).fit(texts, labels)
    older_scorer = FastScorer.compile(older)
    assert older_scorer is not None and type(older_scorer.counts).__name__ == "_Counts"
    assert np.allclose(older_scorer.probabilities_many(texts), older.predict_proba(texts), rtol=0.0, atol=1e-12)

    other = Pipeline([("counts", CountVectorizer()), ("model", LogisticRegression())])
    other.fit(["printer jammed", "vpn down", "vpn slow"], ["hardware", "network", "network"])
    assert FastScorer.compile(other) is None
    fallback = FastClassifier.wrap(Classifier(pipeline=other, name="other"))
    assert fallback.scorer is None
    assert fallback.predict(make_draft(subject="", text="vpn"))[0] == "network"


def test_the_fast_scorer_finds_the_n_grams_of_other_ranges_and_vocabularies_word_by_word():
    """Words shorter than the n-gram range (counted whole), longer than it, case kept, a pruned or a given
    vocabulary, characters no n-gram has, texts scored together, alone and empty: as the pipeline scores them."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import FeatureUnion, Pipeline  # type: ignore[import-untyped]

    from gateway.model_scorer import FastScorer

    examples = generate(per_language_and_label=2, seed=11)
    texts = [e.features() for e in examples]
    labels = [e.label for e in examples]
    odd = ["a b c a a I", "I İ ı i Σ ΣΊΣΥΦΟΣ σς ǅ ﬁ ß ẞ Ärger ÄRGER", "x" * 40 + " " + "ab" * 30 + " kéréskérés",
           "打印机坏了 😀 \ud800 a_b __x__ ☺", "vpn VPN Vpn vpn " * 20,
           "anna.kovacs@example.org ref #A-1234-ZZ (urgent!!!)"]
    unseen = ["", " \n\t ", "b A ﬀ ΣΑΣ 😀😀 qqq zzzzzzzzzzzzzzzz", "Ticket ref 7dceb6a2d3c5, job 12801. " * 5]
    given = [" a ", " i ", "ab", "b ", " ab", "ab ", " ab ", "abc", "bc ", " x", "xxx", "xxxxx", "xxxxxx", "vpn", "kér"]
    for ngram_range, lowercase, max_features, vocabulary in (
        ((1, 3), True, None, None), ((4, 6), False, None, None), ((2, 5), True, 300, None), ((3, 5), True, None, given)
    ):
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=lowercase, sublinear_tf=True,
                                max_features=max_features, vocabulary=vocabulary)
        union = FeatureUnion([("words", TfidfVectorizer(lowercase=lowercase)), ("chars", chars)])
        pipeline = Pipeline([("features", union), ("model", LogisticRegression(max_iter=500))])
        pipeline.fit(texts + odd, labels + labels[: len(odd)])
        # Two scorers, two word caches: one finds many new words' n-grams at once, the other a few at a time.
        together, alone = (FastScorer.compile(pipeline, probes=[""]) for _ in range(2))  # compared below instead
        assert together is not None and type(together.counts).__name__ == "_WordCounts"
        assert alone is not None
        probe = odd + unseen + texts[::5] + [text.upper() for text in texts[:4]]
        expected = pipeline.predict_proba(probe)
        assert np.allclose(together.probabilities_many(probe), expected, rtol=0.0, atol=1e-12)
        assert np.allclose([alone.probabilities(text) for text in probe], expected, rtol=0.0, atol=1e-12)
