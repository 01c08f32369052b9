"""WhatsApp's message shapes from replies (buttons, lists, long texts, Urdu), the status template, the
send classification and the `raabta whatsapp` commands against the fake Cloud API over HTTP."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from bot import cli
from bot.channels.messenger_render import is_boundary
from bot.channels.whatsapp import check
from bot.channels.whatsapp_render import MAX_BODY, balanced, messages, title
from bot.channels.whatsapp_send import classify
from bot.channels.whatsapp_templates import Templates
from bot.dialogue import Button, Reply
from bot.shared.config import load_settings
from bot.shared.delivery import Outcome
from responses import catalog
from tests.fakes.whatsapp_api import FakeCloudAPI, shape_problem

TEXTS = catalog()


def body_of(message: dict[str, object]) -> dict[str, object]:
    return {"messaging_product": "whatsapp", "to": "923001234567", **message}


def buttons(n: int, label: str = "Choice") -> tuple[Button, ...]:
    return tuple(Button(f"cat:c{i}", f"{label} {i}") for i in range(n))


def test_three_choices_are_reply_buttons_and_four_a_list() -> None:
    [three] = messages(Reply("Pick one", buttons(3)), TEXTS)
    assert three["interactive"]["type"] == "button"  # type: ignore[index]
    [four] = messages(Reply("Pick one", buttons(4)), TEXTS, "ur")
    interactive = four["interactive"]
    assert interactive["type"] == "list"  # type: ignore[index]
    assert interactive["action"]["button"] == TEXTS.text("whatsapp.choose", "ur")  # type: ignore[index]
    for message in (three, four):
        assert shape_problem(body_of(message)) is None


def test_more_than_ten_choices_keep_the_first_eight_and_back_and_cancel() -> None:
    many = (*buttons(12), Button("nav:back", "Back"), Button("nav:cancel", "Cancel"))
    [message] = messages(Reply("Pick", many), TEXTS)
    rows = message["interactive"]["action"]["sections"][0]["rows"]  # type: ignore[index]
    assert len(rows) == 10 and [r["id"] for r in rows[-2:]] == ["nav:back", "nav:cancel"]
    assert shape_problem(body_of(message)) is None


def test_long_labels_are_shortened_whole_with_the_full_text_in_the_description() -> None:
    label = "بھرتی یا تربیتی کیمپوں کی دعوت دینے والا مواد"  # longer than 24
    [message] = messages(Reply("چنیں", buttons(5, label)), TEXTS, "ur")
    rows = message["interactive"]["action"]["sections"][0]["rows"]  # type: ignore[index]
    for row in rows:
        assert len(row["title"]) <= 24 and row["title"].endswith("…")
        assert row["description"].startswith(label[:20])
    assert shape_problem(body_of(message)) is None


def test_a_cut_never_splits_a_letter_from_its_mark_nor_leaves_an_isolate_open() -> None:
    marked = "ب" + "\u0650" * 1 + "ر" * 18 + "\u0651" + "ی" + "\u0670" * 1 + "ہ" * 10
    cut = title(marked, 20)
    assert len(cut) <= 20 and cut.endswith("…")
    assert marked.startswith(cut[:-1]) and is_boundary(marked, len(cut) - 1)
    isolated = "نمبر \u20680800 011 3764 1234 5678 9999\u2069 پر کال کریں"
    short = title(isolated, 20)
    assert short.count("\u2068") == short.count("\u2069")


def test_long_texts_split_at_sentences_within_4096_and_the_body_within_1024() -> None:
    sentence = "یہ ایک لمبا جملہ ہے جس میں نمبر \u20680800-39393\u2069 آتا ہے۔ "
    long_text = sentence * 200
    parts = messages(Reply(long_text, buttons(2)), TEXTS, "ur")
    assert len(parts) >= 3
    for part in parts[:-1]:
        body = part["text"]["body"]  # type: ignore[index]
        assert len(body) <= 4096 and body.rstrip().endswith("۔")
        assert body.count("\u2068") == body.count("\u2069")
    last = parts[-1]["interactive"]["body"]["text"]  # type: ignore[index]
    assert len(last) <= MAX_BODY
    assert "".join(p["text"]["body"] for p in parts[:-1]).replace(" ", "") in long_text.replace(" ", "")  # type: ignore[index]
    for part in parts:
        assert shape_problem(body_of(part)) is None


def test_balanced_reopens_an_isolate_cut_in_two() -> None:
    assert balanced(["a \u20680800", "011\u2069 b"]) == ["a \u20680800\u2069", "\u2068011\u2069 b"]


def test_the_catalog_urdu_texts_are_sent_with_their_isolates_unchanged() -> None:
    text = TEXTS.text("report.done", "ur", code="ABCD-EFGH")
    [message] = messages(Reply(text), TEXTS, "ur")
    assert message["text"]["body"] == text.strip()  # type: ignore[index]
    assert "\u2068ABCD-EFGH\u2069" in text


@pytest.mark.parametrize(
    ("status", "code", "outcome", "reason"),
    [
        (200, None, Outcome.SENT, ""),
        (400, 131026, Outcome.GONE, "undeliverable_131026"),
        (400, 131047, Outcome.EXPIRED, "outside_24h_window_131047"),
        (400, 130429, Outcome.RETRY, "rate_limit_130429"),
        (400, 131056, Outcome.RETRY, "rate_limit_131056"),
        (500, 131000, Outcome.RETRY, "temporary_131000"),
        (401, 190, Outcome.RETRY, "invalid_token"),
        (400, 132001, Outcome.EXPIRED, "template_132001"),
        (400, 100, Outcome.EXPIRED, "rejected_100"),
        (503, None, Outcome.RETRY, "http_503"),
    ],
)
def test_answers_are_classified(status: int, code: int | None, outcome: Outcome, reason: str) -> None:
    data = {"messages": [{"id": "wamid.X"}]} if code is None and status == 200 else {"error": {"code": code}}
    answer = classify(status, data)
    assert (answer.outcome, answer.reason) == (outcome, reason)


def test_the_templates_are_defined_in_every_language_and_used_only_when_approved() -> None:
    templates = Templates(TEXTS, "raabta_status_update", "ur")
    defined = json.loads(templates.definitions())
    assert [(d["name"], d["language"]) for d in defined] == [
        ("raabta_status_update", "en"),
        ("raabta_status_update", "ur"),
        ("raabta_status_update_roman", "en"),
    ]
    for definition in defined:
        [body] = definition["components"]
        assert (
            "{{1}}" in body["text"] and not body["text"].startswith("{{") and not body["text"].endswith("}}")
        )
        assert definition["category"] == "UTILITY"
    assert templates.message("en", "x") is None
    message = templates.message("ur", "آپ کی رپورٹ\n\nپر کارروائی ہوئی" + " بہت" * 600)
    assert message is not None
    [parameter] = message["template"]["components"][0]["parameters"]
    assert "\n" not in parameter["text"] and "     " not in parameter["text"]
    assert len(parameter["text"]) + len(defined[1]["components"][0]["text"]) - 5 <= 1024


def test_raabta_whatsapp_templates_prints_the_definitions(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["whatsapp", "templates"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {d["language"] for d in printed} == {"en", "ur"} and len(printed) == 3


async def test_raabta_whatsapp_check_asks_the_graph_api() -> None:
    api = FakeCloudAPI("tok-123", "1122334455667")
    with api.serve() as url:
        good = load_settings(
            whatsapp_token=SecretStr("tok-123"),
            whatsapp_phone_number_id="1122334455667",
            whatsapp_app_secret=SecretStr("s"),
            whatsapp_verify_token=SecretStr("v"),
            graph_api_url=url,
        )
        ok, said = await check(good)
        assert ok and "15550783881" in said and "tok-123" not in said
        bad = good.model_copy(update={"whatsapp_token": SecretStr("wrong")})
        ok, said = await check(bad)
        assert not ok and "190" in said and "wrong" not in said
    ok, said = await check(load_settings())
    assert not ok and "RAABTA_WHATSAPP_TOKEN" in said


def test_settings_refuse_a_bad_number_id_or_language() -> None:
    with pytest.raises(SystemExit, match="RAABTA_WHATSAPP_PHONE_NUMBER_ID"):
        load_settings(whatsapp_phone_number_id="+92 300")
    with pytest.raises(SystemExit, match="RAABTA_WHATSAPP_TEMPLATE_LANGUAGES"):
        load_settings(whatsapp_template_languages="en,fr")
