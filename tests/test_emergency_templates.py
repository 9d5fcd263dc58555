"""#22: ready emergency notices, drills marked everywhere, and notices that end by themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from onthaal.cli import main
from scheduler.templates import TemplatesError, load_templates
from tests.configs import REPO, isolated_config
from tests.web_harness import Site, running_site

LANGUAGES = ("nl", "fr", "en", "de")


@pytest.fixture
async def site(tmp_path: Path) -> Site:  # type: ignore[misc]
    async with running_site(tmp_path) as s:
        yield s


async def test_the_desk_raises_a_fire_drill_from_a_template_that_ends_by_itself(
    site: Site,
) -> None:
    desk = {"Authorization": f"Bearer {site.desk_token}"}
    async with httpx.AsyncClient(base_url=site.url, headers=desk) as http:
        ready = (await http.get("/api/v1/emergency-templates")).json()
        assert set(ready) == {"evacuation", "fire", "closed", "lockdown"}
        assert ready["fire"]["label"]["nl"] == "Brand"
        raised = await http.post(
            "/api/v1/emergency", json={"template": "fire", "drill": True, "minutes": 15}
        )
        assert raised.status_code == 201, raised.text
        notice = raised.json()
        assert notice["drill"] is True and notice["id"].startswith("drill-")
        titles = {lang: item["title"] for lang, item in notice["content"].items()}
        assert titles == {
            "nl": "OEFENING: Brand",
            "fr": "EXERCICE: Incendie",
            "en": "DRILL: Fire",
            "de": "ÜBUNG: Brand",
        }
        starts, ends = (datetime.fromisoformat(notice[k]) for k in ("starts", "ends"))
        assert ends - starts == timedelta(minutes=15)
        # The desk's own words win over the template's, language by language.
        own = await http.post(
            "/api/v1/emergency",
            json={"template": "evacuation", "content": {"nl": {"title": "Verlaat de zaal"}}},
        )
        assert own.status_code == 201, own.text
        content = own.json()["content"]
        assert (
            content["nl"]["title"] == "Verlaat de zaal" and content["fr"]["title"] == "Évacuation"
        )
        wrong = await http.post("/api/v1/emergency", json={"template": "flood"})
        assert wrong.status_code == 422 and "no template 'flood'" in wrong.text
        nothing = await http.post("/api/v1/emergency", json={})
        assert nothing.status_code == 422 and "choose a template" in nothing.text
    trail = [e.after for e in site.services.store.audit() if e.action == "create"]
    assert trail[0] is not None and trail[0]["drill"] is True, "the audit keeps it a drill"


def test_a_template_missing_a_site_language_is_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "templates.toml"
    text = (REPO / "content" / "emergency" / "templates.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace('de = { title = "Brand"', 'xx = { title = "Brand"'), "utf-8")
    with pytest.raises(TemplatesError) as info:
        load_templates(broken, LANGUAGES)
    assert any("[fire]: de: missing" in p for p in info.value.problems), info.value.problems
    assert any("[fire]: xx: not a site language" in p for p in info.value.problems)
    config = isolated_config(tmp_path, scheduler__emergency_templates=f'"{broken}"')
    assert main(["check-config", str(config)]) == 2


def test_the_shipped_templates_cover_every_site_language() -> None:
    found = load_templates(REPO / "content" / "emergency" / "templates.toml", LANGUAGES)
    for template in found.values():
        assert set(template.content) == set(LANGUAGES)
        assert all(item.title and item.body for item in template.content.values())
