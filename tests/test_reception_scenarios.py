"""Reception scenarios against the simulated Pepper over libqi, asserted on its journal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.reception_harness import reception

# Tuesday 24 November 2026, 10:00 in Brussels: open.
OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
# Tuesday 24 November 2026, 20:00 in Brussels: closed (Tuesday is mornings only).
CLOSED = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


async def test_a_dutch_visitor_is_greeted_helped_to_the_toilets_and_says_goodbye() -> None:
    async with reception(OPEN) as r:
        await r.until(lambda: bool(r.journal("pepper", "tablet-show")))  # idle: welcome screen
        await r.sim.world.walk_in(7, step=1.0)
        greeting = await r.until_said("welkom")
        assert greeting["language"] == "Dutch"
        shown = [e["url"] for e in r.journal("pepper", "tablet-show")]
        assert any("/languages" in url for url in shown), "the tablet offers a language choice"

        await r.tell("Waar zijn de toiletten?", "Dutch")
        answer = await r.until_said("toiletten vindt u")
        assert answer["language"] == "Dutch"
        await r.until(lambda: bool(r.journal("pepper", "joints")))
        shown = [e["url"] for e in r.journal("pepper", "tablet-show")]
        assert any("/page/toilets?lang=nl" in url for url in shown)
        assert any("/route/toiletten?lang=nl" in url for url in shown)
        turn, step = r.journal("pepper", "move")[:2]
        assert turn["theta"] > 0, "the toilets are to the robot's left: it turns left"
        assert step["x"] == pytest.approx(0.3), "and takes a step that way while pointing"
        await r.until(lambda: len(r.journal("pepper", "move")) == 4 and not r.sim.state.moving)
        x, _y, theta = r.sim.state.position
        assert abs(x) < 1e-9 and abs(theta) < 1e-9, "then it is back in its place"

        await r.tell("Dank u wel, tot ziens!", "Dutch")
        await r.until(lambda: r.situation.conversation is None)
        assert r.said()[-1] in r.situation.dialogue.kb.intents["thanks_goodbye"].answers["nl"]


async def test_a_french_visitor_picks_french_on_the_tablet_and_is_answered_in_french() -> None:
    async with reception(OPEN) as r:
        await r.sim.world.walk_in(8, step=1.0)
        await r.until_said("welkom")
        r.sim.world.tap_tablet("lang-fr")
        chosen = await r.until_said("en français")
        assert chosen["language"] == "French"
        await r.tell("Où sont les toilettes ?", "French")
        answer = await r.until_said("Les toilettes")
        assert answer["language"] == "French"


async def test_failed_questions_offer_the_tablet_then_call_a_colleague() -> None:
    async with reception(OPEN) as r:
        await r.sim.world.walk_in(9, step=1.0)
        await r.until_said("welkom")
        await r.tell("Wie heeft de Ronde van Vlaanderen gewonnen?", "Dutch")
        await r.until_said("niet goed begrepen")
        await r.tell("Wat is de hoofdstad van Australië?", "Dutch")
        await r.until_said("op mijn scherm typen")
        await r.until(lambda: "/tablet/ask?lang=nl" in (r.sim.state.tablet or ("", ""))[1])
        assert not r.handovers
        await r.tell("Hoe hoog is de Eiffeltoren?", "Dutch")
        await r.until_said("collega")
        await r.until(lambda: bool(r.handovers))
        [request] = r.handovers
        assert request.reason == "not-understood"
        assert request.language == "nl"


async def test_a_visitor_leaving_mid_answer_stops_speech_and_resets_the_tablet() -> None:
    async with reception(OPEN, speed=20.0) as r:
        await r.sim.world.walk_in(10, step=1.0)
        await r.until_said("welkom")
        await r.tell("Ik wil een paspoort aanvragen", "Dutch")
        await r.until_said("Een paspoort vraagt u aan")  # first sentence under way
        r.sim.world.leave(10)
        await r.until(lambda: any(e.get("interrupted") for e in r.journal("pepper", "stop-speech")))
        stop = next(e for e in r.journal("pepper", "stop-speech") if e["interrupted"])

        def tablet_reset_after_stop() -> bool:
            entries = r.sim.journal.since(0)
            return any(e["action"] == "tablet-hide" for e in entries[entries.index(stop) :])

        await r.until(tablet_reset_after_stop)
        # the rest of the answer was never said, and the conversation is forgotten
        assert not any("Breng uw identiteitskaart" in t for t in r.said())
        await r.until(lambda: r.situation.conversation is None)


async def test_low_battery_preempts_a_conversation_at_a_sentence_boundary() -> None:
    async with reception(OPEN, speed=20.0) as r:
        await r.sim.world.walk_in(11, step=1.0)
        await r.until_said("welkom")
        await r.tell("Ik wil een paspoort aanvragen", "Dutch")
        first = await r.until_said("Een paspoort vraagt u aan")
        r.sim.world.set_battery(12.0, charging=False)
        apology = await r.until_said("batterij is bijna leeg")
        await r.until(lambda: bool(r.journal("pepper", "rest")))
        entries = r.sim.journal.since(0)
        between = entries[entries.index(first) + 1 : entries.index(apology)]
        # the sentence being spoken was finished, not cut; the next one never started
        assert not any(e["action"] == "stop-speech" and e.get("interrupted") for e in between)
        assert not any(e["action"] in ("say", "animated-say") for e in between)
        assert r.sim.state.awake is False
        # back on the charger: it wakes up and helps again
        r.sim.world.set_battery(70.0, charging=True)
        await r.until(lambda: bool(r.journal("pepper", "wake-up")))
        await r.until(lambda: "low-battery" not in r.engine.running)


async def test_outside_opening_hours_the_visitor_hears_when_it_opens_again() -> None:
    async with reception(CLOSED) as r:
        await r.sim.world.walk_in(12, step=1.0)
        await r.until_said("Op dit moment is het gemeentehuis van Aalter gesloten.")
        await r.until_said("We zijn morgen weer open vanaf 8.30 uur.")


async def test_a_visitor_greeted_a_minute_ago_is_not_greeted_again() -> None:
    async with reception(OPEN) as r:
        await r.sim.world.walk_in(13, step=1.0)
        await r.until_said("welkom")
        await r.tell("Dank u, tot ziens", "Dutch")
        await r.until(lambda: r.situation.conversation is None)
        r.sim.world.approach(13, 2)
        await r.clock.sleep(30)
        r.sim.world.approach(13, 1)
        await r.clock.sleep(5)
        assert sum("welkom" in t for t in r.said()) == 1
