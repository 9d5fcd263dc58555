"""The machines' probes: ``GET /healthz`` for a load balancer, ``GET /metrics`` for Prometheus.

Both answer without credentials; ``/healthz`` says what failed only to staff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from onthaal.web.metrics import Metrics
from onthaal.web.security import api_user
from onthaal.web.users import User

if TYPE_CHECKING:
    from onthaal.web.app import WebServices


def health_router(services: WebServices, metrics_text: Metrics) -> APIRouter:
    """``/healthz`` and ``/metrics`` over the running system of ``services``."""
    router = APIRouter()

    def staff_or_none(request: Request) -> User | None:
        """Who asks, if anyone is signed in or sends a token (never an error)."""
        try:
            return api_user(request, services.users)
        except HTTPException:
            return None

    @router.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        snapshot = services.core.snapshot()
        children = [h.as_dict() for h in snapshot.health]
        healthy = all(c["state"] == "running" and not c["problem"] for c in children)
        body: dict[str, Any] = {"children": children}
        if snapshot.robot.present:
            # The link child keeps running while it reconnects: the link itself says
            # whether the robot is reachable.
            seen = snapshot.robot.last_seen
            connected = snapshot.robot.connected
            body["robot"] = {
                "connected": connected,
                "last_seen": seen.isoformat() if seen is not None else None,
            }
            healthy = healthy and connected
        body["status"] = "ok" if healthy else "degraded"
        if staff_or_none(request) is None:
            # Anonymous (a load balancer, a monitor): the verdict only. What failed and
            # why (addresses, database errors) is for staff.
            body = {"status": body["status"]}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(metrics_text.render(), media_type="text/plain; version=0.0.4")

    return router
