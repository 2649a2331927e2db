"""The classifier on a generated multilingual corpus: a score floor, persistence, thresholds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import pytest

from normalize.schema import Channel, Transport
from router.classifier import Classifier
from router.config import parse_router_config
from router.decide import decide
from router.errors import ExampleFileError, ModelFileError, TrainingError
from router.examples import LabelledExample
from router.model_file import FORMAT, FORMAT_VERSION
from router.training import evaluate, load_examples, train
from tests.router.corpus import LABELS, generate, shuffled_labels
from tests.router.drafts import MONDAY_10_UTC, make_draft

MACRO_F1_FLOOR = 0.8


@pytest.fixture(scope="module")
def corpus() -> list[LabelledExample]:
    return generate()


@pytest.fixture(scope="module")
def classifier(corpus: list[LabelledExample]) -> Classifier:
    return train(corpus, name="helpdesk")


def test_corpus_shape(corpus: list[LabelledExample]) -> None:
    assert len(LABELS) >= 4
    for label in LABELS:
        assert sum(e.label == label for e in corpus) >= 40
    assert len({e.text for e in corpus}) == len(corpus)


def test_held_out_scores_reach_the_floor(corpus: list[LabelledExample]) -> None:
    scores = evaluate(corpus, test_size=0.25, seed=0)
    assert (scores.n_train, scores.n_test) == (144, 48)
    assert scores.macro_f1 >= MACRO_F1_FLOOR, scores
    assert scores.accuracy >= MACRO_F1_FLOOR, scores


def test_a_model_trained_on_shuffled_labels_fails_the_floor(corpus: list[LabelledExample]) -> None:
    scores = evaluate(shuffled_labels(corpus), test_size=0.25, seed=0)
    assert scores.macro_f1 < MACRO_F1_FLOOR, scores
    assert scores.macro_f1 < 0.5, scores


@pytest.mark.parametrize(
    ("subject", "text", "label"),
    [
        ("Printer", "The printer in room 12 prints blank pages again.", "hardware"),
        ("Számla", "A múlt havi számla összege hibás, kérem javítsák.", "billing/invoice"),
        ("Akun", "Akun saya terkunci, saya lupa kata sandi.", "accounts/password"),
        ("VPN", "Seit heute bricht die VPN-Verbindung im Homeoffice ständig ab.", "network"),
    ],
)
def test_predicts_unseen_sentences(classifier: Classifier, subject: str, text: str, label: str) -> None:
    predicted, confidence = classifier.predict(make_draft(subject=subject, text=text))
    assert predicted == label
    assert 0.0 < confidence <= 1.0


def test_portal_category_is_a_feature(classifier: Classifier) -> None:
    vague = {"channel": Channel.PORTAL, "transport": Transport.HTTP, "subject": "Help", "text": "It does not work."}
    without = classifier.probabilities(make_draft(**vague))
    hinted = classifier.probabilities(make_draft(**vague, category_hint="Billing"))
    assert hinted["billing/invoice"] > without["billing/invoice"]
    assert sum(hinted.values()) == pytest.approx(1.0)


def test_threshold_with_a_trained_model(classifier: Classifier) -> None:
    config = parse_router_config({"default_queue": "general", "model": {"path": "m.joblib", "threshold": 0.6}})
    clear = make_draft(subject="Invoice", text="I was charged twice this month, please refund the payment.")
    decision = decide(clear, config, now=MONDAY_10_UTC, classifier=classifier)
    assert (decision.queue, decision.category, decision.decided_by) == ("billing", "invoice", "model:m")
    assert decision.confidence is not None and decision.confidence >= 0.6
    vague = make_draft(subject="Hello", text="Lorem ipsum dolor sit amet.")
    label, confidence = classifier.predict(vague)
    assert confidence < 0.6
    decision = decide(vague, config, now=MONDAY_10_UTC, classifier=classifier)
    assert (decision.queue, decision.decided_by, decision.confidence) == ("general", "default", None)
    assert decision.tried[-1].rule == "model:m" and not decision.tried[-1].matched
    assert repr(label) in decision.tried[-1].reason


def test_save_and_load_round_trip(classifier: Classifier, corpus: list[LabelledExample], tmp_path: Path) -> None:
    path = tmp_path / "models" / "helpdesk.joblib"
    classifier.save(path)
    loaded = Classifier.load(path)
    assert loaded.name == "helpdesk"
    assert loaded.labels == classifier.labels
    assert loaded.metadata["examples"] == len(corpus)
    texts = [e.features() for e in corpus[:20]]
    assert loaded.predict_features(texts) == classifier.predict_features(texts)
    assert [p.name for p in path.parent.iterdir()] == ["helpdesk.joblib"]


def test_a_stale_format_version_fails_clearly(classifier: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    classifier.save(path)
    content = joblib.load(path)
    joblib.dump({**content, "version": FORMAT_VERSION + 1}, path)
    with pytest.raises(ModelFileError, match=f"format version {FORMAT_VERSION + 1}.*retrain"):
        Classifier.load(path)


def test_another_scikit_learn_release_fails_clearly(classifier: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    classifier.save(path)
    joblib.dump({**joblib.load(path), "sklearn_version": "0.24.2"}, path)
    with pytest.raises(ModelFileError, match=r"scikit-learn 0\.24\.2.*retrain"):
        Classifier.load(path)


@pytest.mark.parametrize(
    "content", [b"not a model", None, {"format": "other"}, {"format": FORMAT, "version": FORMAT_VERSION}]
)
def test_foreign_files_are_refused(content: object, tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        joblib.dump(content, path)
    with pytest.raises(ModelFileError, match=str(path)):
        Classifier.load(path)


def test_training_needs_two_valid_labels() -> None:
    with pytest.raises(TrainingError, match="two different labels"):
        train([LabelledExample("a", "q"), LabelledExample("b", "q")])
    with pytest.raises(TrainingError, match="queue/category"):
        train([LabelledExample("a", "q/"), LabelledExample("b", "p")])
    with pytest.raises(TrainingError, match="at least 2 examples per label"):
        evaluate([LabelledExample("a", "q"), LabelledExample("b", "q"), LabelledExample("c", "p")])


def test_a_label_with_one_example_still_trains() -> None:
    examples = [LabelledExample("printer jammed", "hardware"), LabelledExample("vpn down", "network")]
    model = train([*examples, LabelledExample("vpn slow", "network")], name="tiny")
    assert model.labels == ("hardware", "network")
    assert model.predict(make_draft(subject="", text="the vpn"))[0] == "network"


def test_load_examples_from_csv_and_jsonl(corpus: list[LabelledExample], tmp_path: Path) -> None:
    columns = ["id", "subject", "text", "label", "channel", "portal_category"]
    csv_path = tmp_path / "examples.csv"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for i, e in enumerate(corpus):
            writer.writerow(
                {
                    "id": i,
                    "subject": e.subject,
                    "text": e.text,
                    "label": e.label,
                    "channel": e.channel,
                    "portal_category": e.portal_category or "",
                }
            )
    jsonl_path = tmp_path / "examples.jsonl"
    jsonl_path.write_text(
        "\n".join(
            json.dumps(
                {
                    "text": e.text,
                    "label": e.label,
                    "subject": e.subject,
                    "channel": e.channel,
                    "portal_category": e.portal_category,
                },
                ensure_ascii=False,
            )
            for e in corpus
        )
        + "\n\n",
        encoding="utf-8",
    )
    assert load_examples(csv_path) == corpus
    assert load_examples(jsonl_path) == corpus


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", "text,queue\nhello,q\n", "lacks the column"),
        ("a.csv", "text,label\nhello,q\n,p\n", "a.csv:3: no text"),
        ("a.jsonl", '{"text": "x", "label": "q"}\n{"text": "y"}\n', "a.jsonl:2: no label"),
        ("a.jsonl", '{"text": "x", "label": "q"}\n[1]\n', "a.jsonl:2: expected a JSON object"),
        ("a.jsonl", '{"text": 3, "label": "q"}\n', "a.jsonl:1: text must be a string"),
        ("a.jsonl", "{oops\n", "a.jsonl:1: invalid JSON"),
        ("a.txt", "hello", "expected a .csv or .jsonl"),
        ("a.csv", "text,label\n", "no examples"),
    ],
)
def test_bad_example_files(name: str, content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ExampleFileError, match=message):
        load_examples(path)


def test_missing_example_file(tmp_path: Path) -> None:
    with pytest.raises(ExampleFileError, match="No such file"):
        load_examples(tmp_path / "missing.csv")


def test_the_model_reads_a_bounded_start_of_the_text(classifier: Classifier) -> None:
    """What follows the first MODEL_TEXT_CHARS characters changes nothing: a huge mail body costs no
    more to score than a long one, in training and in use alike."""
    from router.features import MODEL_TEXT_CHARS, feature_text

    start = "Akun saya terkunci, saya lupa kata sandi. " * 200
    assert len(start) > MODEL_TEXT_CHARS
    tails = ["", " invoice billing refund" * 5000, " ".join(["printer toner jam"] * 20000)]
    texts = {feature_text("Login", start + tail, "portal") for tail in tails}
    assert len(texts) == 1 and len(texts.pop()) < MODEL_TEXT_CHARS + 100
    predictions = {classifier.predict(make_draft(subject="Login", text=start + tail)) for tail in tails}
    assert len(predictions) == 1


@pytest.mark.parametrize(
    ("subject", "text", "channel", "category", "expected"),
    [
        ("VPN down", "since Monday", "portal", "Network Access",
         "VPN down\nsince Monday\n__channel__portal\n__portal_category__network_access"),
        ("", "since Monday", "email", None, "since Monday\n__channel__email"),
        ("VPN down", "", None, "Billing", "VPN down\n__portal_category__billing"),
        ("", "", "telegram", "", "__channel__telegram"),
        ("", "", None, None, ""),
        ("Számla", "hibás összeg", None, None, "Számla\nhibás összeg"),
    ],
)
def test_the_feature_text_holds_the_non_empty_parts_one_per_line(
    subject: str, text: str, channel: str | None, category: str | None, expected: str
) -> None:
    """Training and use read this one layout: a line that is missing must not leave an empty line (a model
    trained on mail without subjects would see a different text for the same message in use)."""
    from router.features import feature_text

    assert feature_text(subject, text, channel, category) == expected
    decomposed = feature_text("Sza\u0301mla", "", None, None)  # combining accent: NFC, as the rules compare
    assert decomposed == "Számla"
