"""A knowledge base with a mistake is refused at load, naming file, intent and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dialogue.kb import KnowledgeBaseError, load_knowledge_base

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "content" / "kb"
LANGS = ("nl", "fr", "en", "de")

GOOD = """
id = "wifi"
[label]
nl = "de wifi"
fr = "le wifi"
en = "the wifi"
de = "das WLAN"
[examples]
nl = ["is er wifi"]
fr = ["y a-t-il du wifi"]
en = ["is there wifi"]
de = ["gibt es WLAN"]
[keywords]
nl = ["wifi"]
fr = ["wifi"]
en = ["wifi"]
de = ["wlan"]
[answers]
nl = "Het netwerk heet {wifi_network}."
fr = "Le réseau s'appelle {wifi_network}."
en = "The network is called {wifi_network}."
de = "Das Netzwerk heißt {wifi_network}."
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for special in ("_phrases.toml", "_desks.toml", "_variables.toml"):
        shutil.copy(SAMPLE / special, folder / special)
    (folder / "wifi.toml").write_text(GOOD)
    return folder


def problems_for(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(folder, LANGS)
    return info.value.problems


def test_the_shipped_sample_loads_and_covers_every_required_intent() -> None:
    kb = load_knowledge_base(SAMPLE, LANGS)
    required = [
        "opening_hours",
        "passport",
        "id_card",
        "driving_licence",
        "change_address",
        "birth_registration",
        "marriage",
        "death_declaration",
        "waste_collection",
        "building_permit",
        "appointment",
        "toilets",
        "wifi",
        "parking",
        "accessibility",
        "lost_property",
        "social_services",
        "taxes",
        "events",
        "contact_staff",
        "payment_methods",
        "certificate_extract",
        "library",
        "robot_identity",
        "thanks_goodbye",
    ]
    assert set(required) <= set(kb.intents)
    for intent_id in required:
        intent = kb.intents[intent_id]
        for language in LANGS:
            assert intent.answers[language].strip(), (intent_id, language)
            assert intent.examples[language], (intent_id, language)


def test_a_minimal_good_knowledge_base_loads(kb_dir: Path) -> None:
    kb = load_knowledge_base(kb_dir, LANGS)
    assert list(kb.intents) == ["wifi"]


def test_unknown_language(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(GOOD + 'es = "¿wifi?"\n')
    [problem] = problems_for(kb_dir)
    assert (
        problem
        == f"{kb_dir / 'wifi.toml'}: wifi: answers: unknown language 'es' (expected nl, fr, en, de)"
    )


def test_missing_language(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(
        GOOD.replace('de = "Das Netzwerk heißt {wifi_network}."\n', "")
    )
    assert problems_for(kb_dir) == [f"{kb_dir / 'wifi.toml'}: wifi: answers: missing language 'de'"]


def test_empty_answer(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(
        GOOD.replace('"The network is called {wifi_network}."', '"  "')
    )
    assert problems_for(kb_dir) == [f"{kb_dir / 'wifi.toml'}: wifi: answers.en: empty answer"]


def test_duplicate_id(kb_dir: Path) -> None:
    (kb_dir / "wifi2.toml").write_text(GOOD)
    [problem] = problems_for(kb_dir)
    assert problem.startswith(f"{kb_dir / 'wifi2.toml'}: wifi: duplicate intent id (also in ")
    assert "wifi.toml" in problem


def test_template_variable_that_does_not_exist(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(GOOD.replace('{wifi_network}."\nfr', '{wifi_naam}."\nfr'))
    assert problems_for(kb_dir) == [
        f"{kb_dir / 'wifi.toml'}: wifi: answers.nl: unknown template variable {{wifi_naam}}"
    ]


def test_desk_variable_without_a_desk(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(GOOD.replace('{wifi_network}."\nfr', '{desk}."\nfr'))
    [problem] = problems_for(kb_dir)
    assert problem.endswith("unknown template variable {desk} (the intent has no desk)")


def test_unknown_desk(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text('desk = "zolder"\n' + GOOD)
    [problem] = problems_for(kb_dir)
    assert (
        problem == f"{kb_dir / 'wifi.toml'}: wifi: desk: unknown desk 'zolder' (not in _desks.toml)"
    )


def test_broken_toml_names_the_file(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text("id = \n")
    [problem] = problems_for(kb_dir)
    assert problem.startswith(f"{kb_dir / 'wifi.toml'}: not valid TOML")


def test_unknown_key_and_missing_id(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(GOOD + "\n[extra]\nnl = 'x'\n")
    (kb_dir / "noid.toml").write_text("[label]\nnl = 'x'\n")
    problems = problems_for(kb_dir)
    assert f"{kb_dir / 'noid.toml'}: (no id): missing 'id'" in problems
    assert any("wifi: unknown key 'extra'" in p for p in problems)


def test_every_problem_is_reported_at_once(kb_dir: Path) -> None:
    (kb_dir / "wifi.toml").write_text(
        GOOD.replace('{wifi_network}."\nfr', '{nope}."\nfr').replace(
            '"The network is called {wifi_network}."', '""'
        )
    )
    assert len(problems_for(kb_dir)) == 2
