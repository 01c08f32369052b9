"""The registry of flows: a new flow plugs in through the registry alone; stored states of every version
load and carry on; the registry refuses two owners of one thing; step names stay inside their flow.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue import (
    REGISTRY,
    Command,
    Flow,
    Inbound,
    KeepContact,
    Route,
    State,
    Step,
    SubmitReport,
)
from bot.dialogue.flows.family import FamilyDraft
from bot.dialogue.flows.report import ReportDraft, Submitted
from bot.dialogue.registry import RegistryError
from bot.dialogue.turn import Turn
from bot.dialogue.types import MAX_LINKS, RequestSupport
from responses import Catalog, load
from tests.talk import Talk

ROOT = Path(__file__).resolve().parent.parent
V1_STATES = json.loads((Path(__file__).parent / "fixtures" / "states_v1.json").read_text(encoding="utf-8"))

# --- a toy flow, declared as a new flow would be: one module's worth of code, one YAML file ----------

QUIZ = "quiz.ask"


def _ask(turn: Turn) -> None:
    turn.goto(QUIZ)
    turn.say("quiz.question", turn.button("quiz:a", "quiz.a"), turn.button("quiz:b", "quiz.b"), *turn.nav())


def _answered(turn: Turn, choice: str) -> None:
    turn.say("quiz.right" if choice == "quiz:a" else "quiz.wrong", *turn.menu_buttons())
    turn.rest()


def _typed(turn: Turn, inbound: Inbound, text: str) -> bool:
    if not turn.says(text, "quiz_answer"):
        return False
    _answered(turn, "quiz:a")
    return True


TOY = Flow(
    name="quiz",
    doc="A toy quiz, to show that a flow plugs in through the registry alone.",
    steps={QUIZ: Step(prompt=_ask, on_text=_typed, asks=True)},
    choices=("quiz:",),
    on_choice=_answered,
    menu="quiz",
    menu_label="quiz.button",
    open=lambda turn, inbound: _ask(turn),
    commands=(Command("quiz", lambda t, i, r: _ask(t), 45, "quiz.button", "MENU_QUIZ", "quiz.button"),),
    routes=(Route(65, lambda t, i, x: _ask(t), phrases=("quiz",), note="asks for a quiz"),),
)
QUIZ_YAML = """\
button: {en: Quiz, ur: کوئز, ur-Latn: Quiz}
question:
  en: Which city is the capital of Pakistan?
  ur: پاکستان کا دارالحکومت کون سا شہر ہے؟
  ur-Latn: Pakistan ka darul hukumat kaun sa shehar hai?
a: {en: Islamabad, ur: اسلام آباد, ur-Latn: Islamabad}
b: {en: Karachi, ur: کراچی, ur-Latn: Karachi}
right: {en: Right!, ur: درست!, ur-Latn: Durust!}
wrong: {en: Not quite., ur: درست نہیں۔, ur-Latn: Durust nahi.}
"""
QUIZ_ROUTING = """
quiz:
  en: [quiz me, a quiz]
  ur: [کوئز]
  ur-Latn: [quiz karo]
quiz_answer:
  en: [islamabad]
  ur: [اسلام آباد]
  ur-Latn: [islamabad]
"""


@pytest.fixture(scope="module")
def toy_texts(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    content = tmp_path_factory.mktemp("responses")
    for path in (ROOT / "responses").glob("*.yaml"):
        shutil.copy(path, content / path.name)
    (content / "quiz.yaml").write_text(QUIZ_YAML, encoding="utf-8")
    with (content / "routing.yaml").open("a", encoding="utf-8") as routing:
        routing.write(QUIZ_ROUTING)
    return load(content)


TOY_REGISTRY = REGISTRY.with_flow(TOY)


def toy_talk(texts: Catalog) -> Talk:
    talk = Talk(flows=TOY_REGISTRY, texts=texts)
    talk.send("/start")
    talk.press("lang:en")
    return talk


def test_a_toy_flow_is_in_the_menu_and_runs_from_it(toy_texts: Catalog) -> None:
    talk = toy_talk(toy_texts)
    assert "menu:quiz" in talk.state.offered
    assert "menu:quiz" not in Talk().send("/start").state.offered  # the shipped registry is untouched
    talk.press("menu:quiz")
    assert talk.step == QUIZ
    assert talk.said == toy_texts.text("quiz.question", "en")
    talk.press("quiz:a")
    assert talk.said == toy_texts.text("quiz.right", "en")
    assert talk.step == REGISTRY.home


def test_a_toy_flow_has_its_command_and_its_routing_words(toy_texts: Catalog) -> None:
    assert [c.name for c in TOY_REGISTRY.commands()][-5:] == ["language", "quiz", "privacy", "cancel", "menu"]
    assert TOY_REGISTRY.postback("MENU_QUIZ") is not None
    talk = toy_talk(toy_texts)
    talk.send("/quiz")
    assert talk.step == QUIZ
    talk.send("hmm, islamabad")  # its answer, typed
    assert talk.said == toy_texts.text("quiz.right", "en")
    talk.send("quiz me please")  # its routing words, from the YAML
    assert talk.step == QUIZ
    talk.send("cancel")  # the engine's global words still work inside it
    assert talk.step == REGISTRY.home
    talk.send("quiz karo")
    talk.send("/report")  # and other flows' commands
    assert talk.step == "report.link"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.one_of(
            st.tuples(
                st.just("text"), st.sampled_from(["quiz me", "islamabad", "/quiz", "back", "hello", "x"])
            ),
            st.tuples(
                st.just("choice"), st.sampled_from(["quiz:a", "quiz:b", "menu:quiz", "nav:back", "nope"])
            ),
            st.tuples(st.just("offered"), st.integers(0, 20)),
        ),
        max_size=15,
    )
)
def test_fuzzing_a_toy_flow_keeps_states_the_registry_declares(
    toy_texts: Catalog, events: list[tuple[str, object]]
) -> None:
    talk = toy_talk(toy_texts)
    for kind, value in events:
        if kind == "text":
            talk.send(str(value))
        elif kind == "choice":
            talk.send(choice=str(value))
        elif talk.state.offered:
            talk.send(choice=talk.state.offered[int(str(value)) % len(talk.state.offered)])
        assert talk.step in TOY_REGISTRY.steps()
        assert talk.last.replies and all(r.text for r in talk.last.replies)
        assert State.from_dict(json.loads(json.dumps(talk.state.to_dict()))) == talk.state


def test_the_registry_refuses_two_owners() -> None:
    with pytest.raises(RegistryError, match=r"quiz\.ask"):
        TOY_REGISTRY.with_flow(Flow(name="quiz2", steps={QUIZ: Step(prompt=_ask)}))
    with pytest.raises(RegistryError, match="command"):
        REGISTRY.with_flow(Flow(name="x", steps={}, commands=(Command("report", lambda t, i, r: None, 1),)))
    with pytest.raises(RegistryError, match="menu"):
        REGISTRY.with_flow(Flow(name="x", steps={}, menu="report", open=lambda t, i: None))
    with pytest.raises(RegistryError, match="buttons"):
        REGISTRY.with_flow(Flow(name="x", steps={}, choices=("learn:",)))


# --- stored states: saved by the engine before the registry (version 1) ------------------------------


@pytest.mark.parametrize("name", sorted(V1_STATES))
def test_a_state_saved_before_the_registry_loads_where_it_was(name: str) -> None:
    stored = V1_STATES[name]
    state = State.from_dict(stored)
    assert "version" not in stored
    assert state.step == stored["step"] and state.step in REGISTRY.steps()
    assert state.history == stored["history"] and state.offered == stored["offered"]
    assert State.from_dict(state.to_dict()) == state
    assert state.to_dict()["version"] == 2


def resumed(name: str) -> Talk:
    talk = Talk()
    talk.state = State.from_dict(V1_STATES[name])
    return talk


def test_a_report_saved_at_the_confirmation_is_submitted_whole() -> None:
    talk = resumed("report_at_confirm")
    assert isinstance(talk.state.draft, ReportDraft)
    talk.press("confirm:submit")
    (report,) = talk.submitted
    assert [link.canonical for link in report.links] == ["https://t.me/some_channel/12"]
    assert report.category == "recruitment" and "camp" in report.description
    assert [(e.kind, e.ref) for e in report.evidence] == [("photo", "file-1")]


def test_an_urgent_report_saved_mid_way_stays_urgent() -> None:
    talk = resumed("report_urgent_evidence")
    talk.press("evidence:done")
    talk.press("confirm:submit")
    (report,) = talk.submitted
    assert report.urgent and report.category == "violent_threat"
    assert report.description == "they will attack the school tomorrow"


def test_the_updates_question_saved_before_keeps_its_report() -> None:
    talk = resumed("updates_question")
    assert talk.state.draft == Submitted("OLDC-0007")
    talk.press("updates:yes")
    assert KeepContact(reports=("OLDC-0007",)) in talk.effects


@pytest.mark.parametrize(("name", "answer", "note"), [("family_phone", "0300 1234567", "time: evening")])
def test_a_callback_saved_before_is_requested_with_what_was_chosen(name: str, answer: str, note: str) -> None:
    talk = resumed(name)
    assert isinstance(talk.state.draft, FamilyDraft)
    talk.send(answer)
    (request,) = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert note in request.note and request.phone == "03001234567"


def test_the_family_topics_read_before_are_kept() -> None:
    talk = resumed("family_time")
    talk.press("time:morning")
    talk.press("support:chat")
    (request,) = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.note.startswith("time: morning; read: signs")


@pytest.mark.parametrize("name", ["status_code", "forget", "learn", "language"])
def test_other_saved_steps_carry_on(name: str) -> None:
    talk = resumed(name)
    before = talk.step
    talk.send(choice="nav:back" if "nav:back" in talk.state.offered else talk.state.offered[0])
    assert talk.last.replies and talk.step in REGISTRY.steps()
    assert before in REGISTRY.steps()


def test_a_draft_is_checked_when_made_and_tolerant_when_read() -> None:
    with pytest.raises(ValueError, match="category"):
        ReportDraft(category="gossip")
    with pytest.raises(ValueError, match="time"):
        FamilyDraft(time="midnight")
    read = ReportDraft.from_dict(
        {
            "links": [
                {"raw": "x", "canonical": f"https://t.me/c{n}", "platform": "telegram"} for n in range(40)
            ]
            + ["not a link", {"raw": "no canonical"}],
            "evidence": [{"kind": "virus", "ref": "x"}, {"kind": "photo", "ref": "f"}],
            "category": "gossip",
            "description": "x" * 5000,
            "urgent": "yes",
        }
    )
    assert len(read.links) == MAX_LINKS and read.category is None and read.urgent is True
    assert [e.ref for e in read.evidence] == ["f"] and len(read.description) == 1000
    assert State.from_dict({"step": 7, "history": "menu", "draft": ["junk"]}) == State()


def test_a_submitted_report_needs_nothing_but_what_the_flows_declare() -> None:
    talk = resumed("report_at_confirm")
    inbound = Inbound("test", "u", "1", choice="confirm:submit")
    from nlu import parse

    needs = REGISTRY.needs(talk.state, parse(""), inbound)
    assert needs.quota and needs.links == ("https://t.me/some_channel/12",)
    assert not needs.numbers and not needs.codes
    assert isinstance(talk.press("confirm:submit").effects[0], SubmitReport)


# --- house rules of the dialogue ---------------------------------------------------------------------


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_no_step_name_is_written_outside_its_flow_module() -> None:
    """A step is named once, in the module of the flow that declares it; everyone else asks the registry."""
    owners = {step: f"{flow.name}.py" for flow in REGISTRY.flows for step in flow.steps}
    owners.pop(REGISTRY.start)  # bot/dialogue/types.py: a new State begins there, before flows load
    product = [p for room in ("bot", "nlu", "storage", "cyberunit") for p in (ROOT / room).rglob("*.py")]
    found = []
    for path in product:
        if "migrations" in path.parts:
            continue
        for step in owners.keys() & _string_constants(path):
            if path.name != owners[step] or path.parent.name != "flows":
                found.append(f"{path.relative_to(ROOT)}: {step!r}")
    # "language", "family", "learn", "privacy" and "start" are also ordinary words (a column, a queue topic,
    # a YAML file, a slash command): only a step-looking use counts, so these are allowed where listed.
    allowed = {
        "language": {"nlu", "storage", "cyberunit", "bot/channels", "bot/cli.py", "bot/outbox.py"},
        "start": {"nlu", "storage", "cyberunit", "bot/channels"},
        "family": {"storage", "cyberunit"},
        "learn": {"bot/shared"},
        "menu": {"bot/channels", "nlu/language.py"},
        "updates": {"storage"},
        "privacy": {"nlu", "cyberunit"},
    }
    unexplained = [
        f
        for f in found
        if not any(f.startswith(room) for room in allowed.get(f.split(": ")[1].strip("'"), ()))
    ]
    assert not unexplained, unexplained


def test_every_routing_list_a_flow_names_exists() -> None:
    from responses import catalog

    for route in (*REGISTRY.routes(), *REGISTRY.interrupts()):
        for name in route.phrases:
            assert catalog().phrases(name), name


def test_the_flows_page_is_written_from_the_registry() -> None:
    """docs/flows.md is what `python -m bot.dialogue.docs` prints: regenerate it when a flow changes."""
    from bot.dialogue.docs import describe

    assert (ROOT / "docs" / "flows.md").read_text(encoding="utf-8") == describe()


def test_the_flows_page_lists_a_toy_flow(toy_texts: Catalog) -> None:
    from bot.dialogue.docs import describe

    page = describe(TOY_REGISTRY, toy_texts)
    assert "## quiz" in page and "`/quiz`" in page and '"quiz me"' in page


@pytest.mark.parametrize(
    ("listing", "problem"),
    [
        ("forget_too:\n  en: [forget me]\n  ur: [مجھے بھول جاؤ]\n", "exactly en, ur, ur-Latn"),
        ("no_words:\n  en: [no]\n  ur: [نہیں]\n  ur-Latn: [nahi]\n", "is not a phrase"),
        ("empty:\n  en: []\n  ur: [نہیں]\n  ur-Latn: [nahi]\n", "expected a list of phrases"),
    ],
)
def test_routing_words_are_checked_content(tmp_path: Path, listing: str, problem: str) -> None:
    """`raabta content check` refuses a routing list without every language, or with YAML's yes/no."""
    from responses import ContentError

    for path in (ROOT / "responses").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    with (tmp_path / "routing.yaml").open("a", encoding="utf-8") as routing:
        routing.write("\n" + listing)
    with pytest.raises(ContentError, match=problem):
        load(tmp_path)
