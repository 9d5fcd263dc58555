"""Pushes what every device should show, the moment it changes.

The dispatcher resolves the schedule now, delivers what changed, then sleeps on the
injected clock until the next instant any device's content changes (a message starting
or ending, a rotation turn) or until the schedule is edited. There is no polling loop
over the schedule. Emergencies are delivered before anything else. Every delivery is
recorded in the store (proof of play); a failed one is retried by the driver and shown
in :meth:`Dispatcher.status`.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from beacons.content import Content, Language, LocalizedContent
from beacons.signage_messages import MAX_AHEAD, MAX_ITEMS, ContentMessage, DefaultItem, Item, Slot
from beacons.tasks import cancel_all, run_together
from clock import Clock
from scheduler.ahead import Plan, Stretch, plan
from scheduler.model import Kind, Message
from scheduler.resolve import (
    BuildingHours,
    Device,
    Showing,
    TieRule,
    Timeline,
    resolve,
    rotation_boundary,
    tied,
)
from scheduler.store import Store

T = TypeVar("T")

log = logging.getLogger("onthaal.scheduler")

HORIZON = timedelta(days=8)  # how far ahead the timeline is expanded at a time
WATCH_EVERY = 2.0  # real seconds between looks for changes made by another process
RETRY_INITIAL = 1.0  # seconds before content that could not be stored is tried again
RETRY_MAX = 60.0
UNRECORDED_MAX = 10_000  # delivery records kept in memory while the database is busy
PRUNE_EVERY = timedelta(days=1)  # how often proof of play past its retention is pruned


class DisplaySink(Protocol):
    """Where display content goes (the signage driver)."""

    def push_many(self, messages: Mapping[str, ContentMessage]) -> None: ...

    def on_delivery(self, callback: Callable[[Any], None]) -> None: ...


class PushOutcome(Protocol):
    """How a beacon push ended."""

    @property
    def ok(self) -> bool: ...

    @property
    def attempts(self) -> int: ...

    @property
    def error(self) -> str | None: ...


class BeaconSink(Protocol):
    """Where beacon content goes (the BLE driver)."""

    async def push_urls(self, wanted: Mapping[str, str]) -> Mapping[str, PushOutcome]: ...

    def set_feed_content(self, beacon: str, content: Content) -> None: ...


@dataclass(frozen=True)
class DeviceDefaults:
    """What a device shows when nothing is scheduled."""

    content: dict[Language, LocalizedContent] | None = None  # displays and 'id' beacons
    url: str | None = None  # 'url' beacons
    beacon_mode: Literal["url", "id"] | None = None  # None for displays
    protocol: Literal[1, 2] = 2  # displays: the signage protocol version their player reads


@dataclass
class DeviceStatus:
    """Delivery state of one device, for staff."""

    device: str
    wanted: str | None = None
    wanted_at: datetime | None = None  # since when it should show ``wanted``
    delivered: str | None = None
    delivered_at: datetime | None = None
    failed: str | None = None


class Dispatcher:
    """Resolves the schedule and pushes changes to displays and beacons."""

    def __init__(
        self,
        store: Store,
        devices: Sequence[Device],
        defaults: Mapping[str, DeviceDefaults],
        tz: ZoneInfo,
        clock: Clock,
        *,
        displays: DisplaySink | None = None,
        beacons: BeaconSink | None = None,
        languages: Sequence[str] = ("nl", "fr", "en", "de"),
        ties: TieRule = "newest",
        rotate_every: float = 60.0,
        emergency_url: str | None = None,
        hours: BuildingHours | None = None,
        keep_deliveries: timedelta | None = None,
        closed_days: Callable[[datetime, datetime], list[Message]] | None = None,
    ) -> None:
        """Dispatch to ``devices`` (with their ``defaults``) from ``store``.

        ``emergency_url``: what link beacons advertise for an emergency without a link.
        ``hours``: the building's opening hours, for messages shown only while it is
        open (or closed). ``keep_deliveries``: how long proof of play is kept (None: for
        ever); older records are pruned once a day. ``closed_days(start, end)``: the
        closed-day notices of that stretch (scheduler/closed.py), part of every timeline.
        """
        self._keep_deliveries = keep_deliveries
        self._closed_days = closed_days
        self._emergency_url = emergency_url
        self._hours = hours
        self._store = store
        self._devices = list(devices)
        self._kinds = {d.id: d.kind for d in devices}
        self._defaults = defaults
        self._tz = tz
        self._clock = clock
        self._displays = displays
        self._beacons = beacons
        self._languages = list(languages)
        self._ties: TieRule = ties
        self._rotate_every = rotate_every
        self._timeline: Timeline | None = None
        self._planned_timeline: Timeline | None = None  # the timeline the last plans read
        # Expanding every message's recurrences takes long with thousands of messages:
        # it happens on a worker thread, over a connection of its own (one job at a time).
        self._reader: Store | None = None
        self._reader_lock = threading.Lock()
        self._changes = 0  # schedule changes seen (a timeline built across one is stale)
        self._stale = False
        self._showing: dict[str, str] = {}
        self._resolved: dict[str, Showing] = {}  # the last round's decision, for staff
        self._status = {d.id: DeviceStatus(d.id) for d in devices}
        self._wake = asyncio.Event()
        self._beacon_queue: asyncio.Queue[tuple[int, int, str, str, str]] = asyncio.PriorityQueue()
        self._sequence = 0
        # Content a sink could not take (its database busy or full): tried again, later.
        self._retry_after = RETRY_INITIAL
        self._retry_at: datetime | None = None
        self._problem: str | None = None
        # Delivery records the schedule database could not take yet, oldest first.
        self._unrecorded: collections.deque[tuple[str, str, datetime, dict[str, Any]]] = (
            collections.deque(maxlen=UNRECORDED_MAX)
        )
        self.passes = 0  # how many times the schedule was resolved (for tests and metrics)
        self._emergencies: tuple[Message, ...] = ()
        self._emergency_listeners: list[Callable[[Sequence[Message]], None]] = []
        store.on_change(self.wake)
        if displays is not None:
            displays.on_delivery(self._display_delivered)

    # -- for the rest of the building ---------------------------------------------------

    def on_emergencies(self, callback: Callable[[Sequence[Message]], None]) -> None:
        """Call ``callback(active)`` whenever the set of active emergencies changes (the
        robot stops what it does and speaks them)."""
        self._emergency_listeners.append(callback)

    @property
    def emergencies(self) -> tuple[Message, ...]:
        """The emergencies active at the last decision, oldest first."""
        return self._emergencies

    def _note_emergencies(self, timeline: Timeline, now: datetime) -> None:
        active = tuple(
            sorted(
                (m for m in timeline.active(now) if m.kind is Kind.EMERGENCY),
                key=lambda m: (m.starts, m.id),
            )
        )
        if [m.content_id for m in active] == [m.content_id for m in self._emergencies]:
            return
        self._emergencies = active
        log.warning("emergencies active: %s", ", ".join(m.id for m in active) or "none")
        for listener in self._emergency_listeners:
            try:
                listener(active)
            except Exception:  # one listener's bug must not stop the screens
                log.exception("an emergency listener failed")

    # -- for staff ---------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The schedule database (share it: its changes wake the dispatcher at once)."""
        return self._store

    def wake(self) -> None:
        """The schedule changed: resolve again now."""
        self._stale = True  # kept meanwhile: a preview while it is rebuilt reads the old one
        self._changes += 1
        self._wake.set()

    def status(self) -> Mapping[str, DeviceStatus]:
        """Per device: what it should show, what it confirmed, what failed."""
        return self._status

    def showing_now(self) -> Mapping[str, Showing]:
        """What the last round decided every device shows (empty before the first round).

        It costs nothing: staff pages read it instead of resolving the schedule again.
        """
        return self._resolved

    def preview(self, at: datetime) -> dict[str, Showing]:
        """What every device shows at ``at`` (any instant, past or future).

        Within the dispatcher's own horizon it reuses the timeline it already built (a
        display page asks this on every load); elsewhere it reads the schedule.
        """
        timeline = self._timeline
        if timeline is None or not timeline.covers(at):
            start, end = at - timedelta(days=1), at + timedelta(days=1)
            messages = [*self._store.messages(), *self._closed(start, end)]
            timeline = Timeline(messages, self._tz, start, end, self._hours)
        return resolve(
            timeline, self._devices, at, ties=self._ties, rotate_every=self._rotate_every
        )

    async def preview_soon(self, at: datetime) -> dict[str, Showing]:
        """:meth:`preview`, reading and expanding the schedule off the event loop."""
        timeline = self._timeline
        if timeline is None or not timeline.covers(at):
            timeline = await self._off_loop(
                self._build, at - timedelta(days=1), at + timedelta(days=1)
            )
        return resolve(
            timeline, self._devices, at, ties=self._ties, rotate_every=self._rotate_every
        )

    async def _off_loop(self, work: Callable[..., T], *args: Any, **options: Any) -> T:
        """Run ``work`` on the default executor (a simulated clock waits for it)."""
        if self._store.in_memory:
            return work(*args, **options)  # tests: one connection, used on its thread only
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: work(*args, **options)
        )

    def _build(self, start: datetime, end: datetime) -> Timeline:
        """Read every message and expand it from ``start`` to ``end`` (a worker thread)."""
        with self._reader_lock:  # the reader connection serves one job at a time
            if self._store.in_memory:
                messages = self._store.messages()
            else:
                if self._reader is None:
                    self._reader = self._store.reader(any_thread=True)
                messages = self._reader.messages()
        return Timeline([*messages, *self._closed(start, end)], self._tz, start, end, self._hours)

    def _closed(self, start: datetime, end: datetime) -> list[Message]:
        """The closed-day notices between ``start`` and ``end`` (none if not asked for)."""
        return self._closed_days(start, end) if self._closed_days is not None else []

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch for ever."""
        await run_together(
            self._dispatch(), self._push_beacons(), self._watch_other_writers(), self._prune()
        )

    async def _prune(self) -> None:
        """Once a day, forget proof of play older than the retention (off the loop)."""
        keep = self._keep_deliveries
        if keep is None:
            return
        while True:
            cutoff = self._clock.now() - keep
            try:
                gone = await self._off_loop(self._prune_before, cutoff)
            except sqlite3.Error as exc:
                log.warning("old delivery records not pruned (tried again tomorrow): %s", exc)
            else:
                if gone:
                    log.info("%d delivery record(s) older than %s pruned", gone, cutoff.date())
            await self._clock.sleep(PRUNE_EVERY.total_seconds())

    def _prune_before(self, cutoff: datetime) -> int:
        with self._reader_lock:
            if self._store.in_memory:
                return self._store.prune_deliveries(cutoff)
            if self._reader is None:
                self._reader = self._store.reader(any_thread=True)
            return self._reader.prune_deliveries(cutoff)

    async def _dispatch(self) -> None:
        while True:
            now = self._clock.now()
            timeline = await self._timeline_at(now)
            showing = resolve(
                timeline, self._devices, now, ties=self._ties, rotate_every=self._rotate_every
            )
            self.passes += 1
            self._resolved = showing
            self._note_emergencies(timeline, now)
            self._flush_records()
            ahead = await self._plan(timeline, showing, now) if self._displays is not None else None
            self._deliver(showing, ahead)
            wake_at = timeline.next_change(now) or timeline.end
            if self._retry_at is not None:
                wake_at = min(wake_at, self._retry_at)
            if any(self._tied(s, timeline, now) for s in showing.values()):
                wake_at = min(wake_at, rotation_boundary(now, self._rotate_every))
            if self._stale:
                continue  # changed while it was being built: build again, do not sleep
            await self._sleep_until(wake_at)

    async def _timeline_at(self, now: datetime) -> Timeline:
        timeline = self._timeline
        if timeline is not None and not self._stale and timeline.covers(now):
            return timeline
        changes = self._changes
        built = await self._off_loop(self._build, now - timedelta(days=1), now + HORIZON)
        if changes == self._changes:
            self._timeline, self._stale = built, False
        # Overtaken by a change, it still serves this round (the change's wake-up makes
        # the next round build again): a stream of edits cannot starve the devices.
        return built

    def _tied(self, showing: Showing, timeline: Timeline, now: datetime) -> bool:
        return self._ties == "rotate" and tied(timeline, showing, now)

    async def _plan(
        self, timeline: Timeline, showing: Mapping[str, Showing], now: datetime
    ) -> Plan | None:
        """What the displays show over the next hours (their look-ahead, and the end of
        what they show now), resolved off the loop: it resolves many instants.

        Only for the displays that need it: those whose content changes now, or all of
        them once after the schedule changed (what comes next may have). A display under
        an emergency gets none: it keeps the notice until told otherwise, and an
        emergency must not wait for a plan.
        """
        rebuilt = timeline is not self._planned_timeline
        screens = [
            d
            for d in self._devices
            if d.kind == "display"
            and not showing[d.id].emergency
            and (
                rebuilt
                or not self._showing.get(d.id, "").startswith(showing[d.id].content_id + "#")
            )
        ]
        self._planned_timeline = timeline
        if not screens:
            return None
        return await self._off_loop(
            plan, timeline, screens, now, ties=self._ties, rotate_every=self._rotate_every
        )

    async def _sleep_until(self, moment: datetime) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep_until(moment))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_all([sleeper, waker])

    async def _watch_other_writers(self) -> None:
        """``onthaal schedule`` edits the database from another process: notice it."""
        seen = self._store.data_version()
        while True:
            await asyncio.sleep(WATCH_EVERY)  # clock-ok: another process writes in real time
            version = self._store.data_version()
            if version != seen:
                seen = version
                log.info("the schedule was changed by another process")
                self.wake()

    # -- delivering -------------------------------------------------------------------------

    def problem(self) -> str | None:
        """None when every decision reached its devices' queues; else what is held up."""
        return self._problem

    def _deliver(self, showing: Mapping[str, Showing], ahead: Plan | None = None) -> None:
        """Hand what changed to the displays and beacons.

        A display counts as given its content only once the signage driver has taken
        it (stored in the outbox): if that fails (the outbox database busy or full),
        the device keeps its old state here, the failure shows in its status and in
        :meth:`problem`, and the next round tries again after a back-off. Marking it
        first lost the content until a restart.
        """
        planned = ahead.stretches if ahead is not None else {}
        keys = {
            s.device: _delivery_key(
                s, planned.get(s.device), self._kinds[s.device], self._showing.get(s.device)
            )
            for s in showing.values()
        }
        changed = [s for s in showing.values() if self._showing.get(s.device) != keys[s.device]]
        changed.sort(key=lambda s: not s.emergency)  # emergencies first
        displays: dict[str, tuple[Showing, ContentMessage]] = {}
        for item in changed:
            status = self._status[item.device]
            before = status.wanted
            status.wanted, status.failed = item.content_id, None
            if self._kinds[item.device] == "display":
                message = self._display_content(item, planned.get(item.device), ahead)
                if message is not None and self._displays is not None:
                    displays[item.device] = (item, message)
                    status.wanted = message.content_id
                    if status.wanted != before:
                        status.wanted_at = self._clock.now()
                    continue
            else:
                self._deliver_to_beacon(item)
            if status.wanted != before:
                status.wanted_at = self._clock.now()
            self._showing[item.device] = keys[item.device]
        if displays and self._displays is not None:
            log.info("content for %d display(s)", len(displays))
            try:
                self._displays.push_many({d: m for d, (_, m) in displays.items()})
            except (sqlite3.Error, OSError) as exc:
                self._held_up(sorted(displays), exc)
                return
            for device in displays:
                self._showing[device] = keys[device]
        if self._retry_at is not None and not self._unrecorded:
            log.info("content is being taken again")
        if not self._unrecorded:
            self._retry_at, self._retry_after, self._problem = None, RETRY_INITIAL, None

    def _held_up(self, devices: list[str], exc: BaseException) -> None:
        wait = self._retry_after
        reason = f"content not stored for sending ({exc}); trying again in {wait:g} s"
        log.warning("%d display(s): %s", len(devices), reason)
        for device in devices:
            self._status[device].failed = reason
        self._problem = f"{len(devices)} display(s) waiting: {reason}"
        self._retry_at = self._clock.now() + timedelta(seconds=wait)
        self._retry_after = min(wait * 2, RETRY_MAX)

    def _record(self, device: str, content_id: str, at: datetime, **details: Any) -> None:
        """Write a delivery record; kept and written later if the database is busy."""
        self._unrecorded.append((device, content_id, at, details))
        self._flush_records()

    def _flush_records(self) -> None:
        while self._unrecorded:
            device, content_id, at, details = self._unrecorded[0]
            try:
                self._store.record_delivery(device, content_id, at, **details)
            except sqlite3.Error as exc:
                wait = self._retry_after
                self._problem = (
                    f"{len(self._unrecorded)} delivery record(s) not written yet ({exc}); "
                    f"trying again in {wait:g} s"
                )
                log.warning("%s", self._problem)
                first = self._retry_at is None
                self._retry_at = self._clock.now() + timedelta(seconds=wait)
                self._retry_after = min(wait * 2, RETRY_MAX)
                if first:
                    self.wake()  # so the dispatch loop's sleep ends when the retry is due
                return
            self._unrecorded.popleft()

    def _display_content(
        self, item: Showing, stretches: list[Stretch] | None, ahead: Plan | None
    ) -> ContentMessage | None:
        """The payload for a display: what it shows now, until when, and (protocol 2)
        what comes next and its default, so it carries on while Onthaal is away."""
        defaults = self._defaults.get(item.device, DeviceDefaults())
        default = _default_item(defaults)
        # What it shows now ends where the plan says it changes (a window closing, a
        # higher priority starting), not at the end of the whole series.
        now_ends = stretches[0].ends if stretches else None
        if item.message is not None:
            message = item.message
            current = ContentMessage(
                schema=1,
                content_id=message.content_id,
                content=message.content,
                valid_until=now_ends if stretches else message.ends,
                priority=message.priority,
                emergency=item.emergency,
            )
        elif default is not None:
            current = ContentMessage(
                schema=1, content_id=default.content_id, content=default.content
            )
        else:
            return None
        if defaults.protocol == 1:
            return current
        if stretches is None or ahead is None:
            # Not planned (an emergency): it holds until its own end, then the default.
            return current.model_copy(
                update={"schema_version": 2, "ahead": [], "items": {}, "default": default}
            )
        slots: list[Slot] = []
        items: dict[str, Item] = {}
        until = ahead.until[item.device]
        for stretch in stretches[1:]:
            shown = stretch.showing
            if shown.message is None:
                continue  # a gap in the plan: the default
            new_item = shown.content_id not in items and shown.content_id != current.content_id
            if len(slots) == MAX_AHEAD or (new_item and len(items) == MAX_ITEMS):
                until = stretch.starts  # the payload stays bounded: the plan stops here
                break
            if new_item:
                items[shown.content_id] = Item(
                    content=shown.message.content,
                    priority=shown.message.priority,
                    emergency=shown.emergency,
                )
            slots.append(
                Slot(starts=stretch.starts, ends=stretch.ends, content_id=shown.content_id)
            )
        return current.model_copy(
            update={
                "schema_version": 2,
                "ahead": slots,
                "items": items,
                "default": default,
                "planned_until": until,
            }
        )

    def _deliver_to_beacon(self, item: Showing) -> None:
        default = self._defaults.get(item.device, DeviceDefaults(beacon_mode="url"))
        content = item.message.content if item.message else default.content
        if default.beacon_mode == "id":
            if content and self._beacons is not None:
                self._beacons.set_feed_content(item.device, Content(languages=content))
                self._record(item.device, item.content_id, self._clock.now(), ok=True)
                self._confirmed(item.device, item.content_id)
            return
        url = self._link(content) if item.message else default.url
        if url is None and item.emergency:
            url = self._emergency_url
            if url is None:
                # Advertising the usual link would tell people nothing; saying it shows the
                # emergency would be a lie: it is a failure staff must see.
                self._status[
                    item.device
                ].failed = "the emergency has no link and [scheduler] emergency_url is not set"
                return
        if url is None:
            url = default.url  # a message without a link leaves the beacon on its default
        if url is None or self._beacons is None:
            return
        self._sequence += 1
        urgency = 0 if item.emergency else 1
        self._beacon_queue.put_nowait((urgency, self._sequence, item.device, url, item.content_id))

    def _link(self, content: Mapping[Language, LocalizedContent] | None) -> str | None:
        if not content:
            return None
        for language in [*self._languages, *content]:
            item = content.get(language)  # type: ignore[call-overload]
            if item is not None and item.link is not None:
                return str(item.link)
        return None

    async def _push_beacons(self) -> None:
        """Push beacon URLs one batch at a time, emergencies first."""
        while True:
            batch = [await self._beacon_queue.get()]
            while not self._beacon_queue.empty():
                batch.append(self._beacon_queue.get_nowait())
            wanted: dict[str, tuple[str, str]] = {}
            for _, _, device, url, content_id in sorted(batch):
                if self._showing.get(device) == content_id:  # still current
                    wanted.setdefault(device, (url, content_id))
            if not wanted or self._beacons is None:
                continue
            results = await self._beacons.push_urls({d: u for d, (u, _) in wanted.items()})
            now = self._clock.now()
            for device, outcome in results.items():
                content_id = wanted[device][1]
                self._record(
                    device, content_id, now, ok=outcome.ok, attempts=outcome.attempts,
                    error=outcome.error,
                )  # fmt: skip
                if outcome.ok:
                    self._confirmed(device, content_id)
                else:
                    self._status[device].failed = outcome.error

    def _display_delivered(self, delivery: Any) -> None:
        self._record(delivery.display, delivery.content_id, delivery.at, ok=True)
        self._confirmed(delivery.display, delivery.content_id)

    def _confirmed(self, device: str, content_id: str) -> None:
        status = self._status.get(device)
        if status is None:
            return
        status.delivered = content_id
        status.delivered_at = self._clock.now()
        status.failed = None


def _default_item(defaults: DeviceDefaults) -> DefaultItem | None:
    """A display's default as content (its id changes with its text, so an edited
    default reaches the screen)."""
    if not defaults.content:
        return None
    digest = hashlib.sha256(
        json.dumps(
            {k: v.model_dump(mode="json") for k, v in defaults.content.items()}, sort_keys=True
        ).encode()
    ).hexdigest()[:8]
    return DefaultItem(content_id=f"default.{digest}", content=defaults.content)


def _delivery_key(
    showing: Showing, stretches: list[Stretch] | None, kind: str, before: str | None = None
) -> str:
    """What a device was last given, to tell whether it needs something new: its content,
    and for a display also when that ends and what follows (its look-ahead). A display
    not planned again this round keeps its key while its content stays the same."""
    if (
        kind == "display"
        and not stretches
        and before is not None
        and before.startswith(showing.content_id + "#")
    ):
        return before
    if kind != "display" or not stretches:
        return showing.content_id
    plan = [
        (s.starts.isoformat(), s.ends.isoformat() if s.ends else "", s.showing.content_id)
        for s in stretches
    ]
    digest = hashlib.sha256(json.dumps([*plan[1:], plan[0][1:]]).encode()).hexdigest()[:12]
    return f"{showing.content_id}#{digest}"
