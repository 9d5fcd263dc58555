"""The simulator's controls: a visitor walks up or away, a visitor says something.

They exist only while simulating (``onthaal sim``); elsewhere they answer 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from onthaal.web.common import ApiUser
from onthaal.web.core import SimControls

if TYPE_CHECKING:
    from onthaal.web.app import WebServices


class VisitorIn(BaseModel):
    """A simulated visitor walking up to the robot."""

    model_config = ConfigDict(extra="forbid")

    track: int = Field(ge=1, le=1_000_000)
    zone: int = Field(default=1, ge=1, le=3)


class UtteranceIn(BaseModel):
    """Something a simulated visitor says."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=500)
    language: str = Field(default="Dutch", pattern="^(Dutch|French|English|German)$")


def sim_router(services: WebServices) -> APIRouter:
    """``/api/v1/sim/*``: the simulated world of ``services``, if it has one."""
    router = APIRouter()

    @router.post("/api/v1/sim/visitor", status_code=status.HTTP_202_ACCEPTED)
    async def sim_visitor(user: ApiUser, data: VisitorIn) -> dict[str, str]:
        sim = _sim(services)
        sim.approach(data.track, data.zone)
        return {"status": "visitor approaching"}

    @router.delete("/api/v1/sim/visitor/{track}", status_code=status.HTTP_202_ACCEPTED)
    async def sim_leave(user: ApiUser, track: int) -> dict[str, str]:
        _sim(services).leave(track)
        return {"status": "visitor leaving"}

    @router.post("/api/v1/sim/utterance", status_code=status.HTTP_202_ACCEPTED)
    async def sim_utterance(user: ApiUser, data: UtteranceIn) -> dict[str, str]:
        _sim(services).hear(data.text, data.language)
        return {"status": "heard"}

    return router


def _sim(services: WebServices) -> SimControls:
    """The simulated world's controls; 404 when not simulating."""
    if services.core.sim is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "simulator controls exist only in sim")
    return services.core.sim
