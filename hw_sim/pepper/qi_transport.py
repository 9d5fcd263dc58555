"""The libqi transport: the simulated services on a standalone libqi session.

``NaoqiRobot`` (or any qi client) connects to :attr:`QiHost.url` exactly as to a real
Pepper. Each service method is exported with its NAOqi signature, overload by overload
(:mod:`hw_sim.pepper.signatures`); calls arrive on
libqi worker threads and are run on the simulation's event loop through
:meth:`~hw_sim.pepper.world.PepperWorld.invoke`, answered with a ``qi.Future`` so no
libqi thread ever waits for the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import qi

from hw_sim.pepper.signatures import Overload, SignatureMismatch, methods
from hw_sim.pepper.world import PepperWorld, Signal

log = logging.getLogger("onthaal.sim.pepper.qi")

# Simulated seconds the session stays up after dropConnection(), so its reply gets out.
_DROP_GRACE = 0.02


def quiet_libqi() -> None:
    """Silence libqi's own logging (it writes to stderr); Onthaal logs what matters."""
    qi.logging.setLevel(qi.logging.SILENT)


class QiHost:
    """Hosts a :class:`PepperWorld` on ``qi.Session().listenStandalone(url)``."""

    def __init__(self, world: PepperWorld, listen: str) -> None:
        """Prepare to listen on ``listen`` (``tcp://127.0.0.1:0`` picks a free port)."""
        self._world = world
        self._listen = listen
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = listen

    def start(self) -> str:
        """Listen, register every service, and return the actual URL."""
        self._loop = asyncio.get_running_loop()
        quiet_libqi()
        self._world.drop_handler = self.drop
        self._open(self._listen)
        return self.url

    def close(self) -> None:
        """Stop listening; connected clients see their session drop."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def drop(self, seconds: float) -> None:
        """Close the session (clients are disconnected) and listen again after ``seconds``."""
        # On the simulation's clock, so the drop falls at the same simulated moment
        # however fast the machine is.
        self._world.clock.call_later(_DROP_GRACE, lambda: self._drop_now(seconds))

    def _drop_now(self, seconds: float) -> None:
        log.info("dropping every robot connection for %g s", seconds)
        self.close()
        self._world.clock.call_later(seconds, lambda: self._open(self.url))

    def _open(self, url: str) -> None:
        assert self._loop is not None
        session = qi.Session()
        session.listenStandalone(url)
        self.url = session.endpoints()[0]
        self._world.use_signals(_signal_factory(self._loop))
        for name, service in self._world.services.items():
            session.registerService(name, _export(self._world, self._loop, name, service))
        self._session = session
        self._world.audio_client = self._audio_client
        log.info("simulated Pepper listening", extra={"url": self.url})

    def _audio_client(self, name: str) -> Callable[..., object]:
        """``processRemote`` of the client service ``name`` (blocking: a worker thread)."""
        assert self._session is not None
        client = self._session.service(name)

        def deliver(channels: int, samples: int, stamp: list[int], pcm: bytes) -> object:
            return client.processRemote(channels, samples, stamp, pcm)

        return deliver


def _signal_factory(loop: asyncio.AbstractEventLoop) -> Callable[[Callable[[bool], None]], Signal]:
    def make(on_change: Callable[[bool], None]) -> Signal:
        def on_connect(has_subscribers: bool) -> None:  # on a libqi thread
            # An exception escaping into libqi aborts the process; the loop may be closed
            # already when the last subscriber goes away at exit.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(on_change, bool(has_subscribers))

        signal: Signal = qi.Signal("m", on_connect)
        return signal

    return make


def _export(world: PepperWorld, loop: asyncio.AbstractEventLoop, name: str, service: object) -> Any:
    """A qi object with every overload of ``name`` under its NAOqi signature.

    Each overload is bound with its own libqi signature (``say::(s)``, ``say::(ss)``), so
    a client's metaobject shows the robot's typed methods and libqi resolves overloads
    as it would on a Pepper; every call is carried out by ``world.invoke``.
    """
    members: dict[str, Any] = {}
    for method, overloads in methods(name).items():
        for overload in overloads:
            forward = _forwarder(world, loop, name, overload)
            members[f"{method}__{overload.params or 'void'}"] = forward
    exported = qi.multiThreaded()(type(name, (), members))
    return exported()


def _forwarder(
    world: PepperWorld, loop: asyncio.AbstractEventLoop, service: str, overload: Overload
) -> Callable[..., Any]:
    def forward(self: object, *args: Any) -> Any:
        promise = qi.Promise()
        call = asyncio.run_coroutine_threadsafe(
            world.invoke(service, overload.name, args, overload), loop
        )

        def settle(done: concurrent.futures.Future[Any]) -> None:
            if done.cancelled():
                promise.setError("cancelled")
            elif isinstance(error := done.exception(), SignatureMismatch):
                promise.setError(str(error))  # libqi's own words, as a robot sends them
            elif error is not None:
                promise.setError(f"{type(error).__name__}: {error}")
            else:
                promise.setValue(done.result())

        call.add_done_callback(settle)
        return promise.future()

    forward.__qi_name__ = overload.name  # type: ignore[attr-defined]
    forward.__qi_signature__ = f"({overload.params})"  # type: ignore[attr-defined]
    forward.__qi_return_signature__ = overload.returns  # type: ignore[attr-defined]
    return forward
