"""The picture library: staff upload, screens load (``/images/<name>``, no credentials).

Each upload is judged by :func:`beacons.images.check_image` (PNG or JPEG by its bytes,
size and pixels bounded) and stored once under its hash in ``[web] images`` (0700
folder, 0600 files). A message's picture is one of these; its ``image_url`` is the
library's public address (``[web] public_url``), which screens and third-party players
reach. Serving is by exact name only: no path, no listing for anonymous callers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import Response

from beacons.images import MEDIA_TYPES, NAME, ImageRefused, Picture, check_image
from onthaal.web.common import ApiUser, _unprocessable

if TYPE_CHECKING:
    from onthaal.web.app import WebServices

log = logging.getLogger("onthaal.web.images")


class ImageLibrary:
    """The pictures in one folder."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        """Keep pictures in ``folder`` (made 0700), each at most ``max_bytes``."""
        self.folder = folder
        self.max_bytes = max_bytes

    def add(self, data: bytes) -> Picture:
        """Check and store ``data`` (raises :class:`ImageRefused`); the same picture twice
        is stored once."""
        picture = check_image(data, self.max_bytes)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.folder / picture.name
        if not target.exists():
            partial = target.with_suffix(".part")
            descriptor = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
            partial.replace(target)  # whole or not at all
        return picture

    def names(self) -> list[str]:
        """Every stored picture, newest first."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if NAME.match(p.name)]
        return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]

    def has(self, name: str) -> bool:
        """Whether ``name`` is a stored picture."""
        return bool(NAME.match(name)) and (self.folder / name).is_file()

    def read(self, name: str) -> bytes | None:
        """The bytes of picture ``name`` (None: no such picture)."""
        if not self.has(name):
            return None
        return (self.folder / name).read_bytes()


def image_url(services: WebServices, name: str) -> str:
    """Where screens fetch picture ``name``."""
    return f"{services.config.public_address()}/images/{name}"


def name_in(services: WebServices, url: str | None) -> str | None:
    """The library name of ``url`` if it is one of this library's pictures."""
    if not url:
        return None
    prefix = f"{services.config.public_address()}/images/"
    name = url.removeprefix(prefix)
    return name if url.startswith(prefix) and NAME.match(name) else None


def images_router(services: WebServices, library: ImageLibrary) -> APIRouter:
    """Upload and list (staff), and serve (anyone) the library's pictures."""
    router = APIRouter()

    @router.post(
        "/api/v1/images",
        status_code=status.HTTP_201_CREATED,
        responses={
            422: {
                "description": "Not a picture a screen may show (the message says why).",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                    }
                },
            }
        },
    )
    async def upload(request: Request, user: ApiUser) -> dict[str, Any]:
        """Store the request body (a PNG or JPEG) as a picture; its name and URL."""
        data = await request.body()
        try:
            picture = await asyncio.to_thread(library.add, data)
        except ImageRefused as exc:
            raise _unprocessable([f"body: {exc}"]) from None
        except OSError as exc:
            log.error("picture not stored: %s", exc)
            raise HTTPException(
                status.HTTP_507_INSUFFICIENT_STORAGE, f"the picture could not be stored: {exc}"
            ) from None
        log.info("picture %s uploaded by %s", picture.name, user.name)
        return {
            "name": picture.name,
            "url": image_url(services, picture.name),
            "width": picture.width,
            "height": picture.height,
        }

    @router.get("/api/v1/images")
    async def listing(user: ApiUser) -> list[dict[str, str]]:
        """The library's pictures, newest first."""
        names = await asyncio.to_thread(library.names)
        return [{"name": n, "url": image_url(services, n)} for n in names]

    @router.get("/images/{name}")
    async def picture(name: Annotated[str, PathParam(max_length=40)]) -> Response:
        """One picture, for the screens (immutable: its name is its content's hash)."""
        data = await asyncio.to_thread(library.read, name) if NAME.match(name) else None
        if data is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no picture {name!r}")
        return Response(
            data,
            media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]],
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    return router
