"""The composition root: turn a :class:`~onthaal.config.Config` into supervised children.

This is the only place that decides between real and simulated backends. Parts are
added here as they come into existence; each becomes one child of the top supervisor.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from beacons.alert_log import AlertLog
from beacons.ble import BleBeacons
from beacons.fleet import Health
from beacons.home_assistant import discovery, state_payload
from beacons.signage import Signage
from clock import Clock, RealClock, VirtualClock
from dialogue.kb import KnowledgeBaseError
from hw_sim.ble import BeaconField
from hw_sim.journal import Journal
from hw_sim.mosquitto_broker import MosquittoBroker, mosquitto_executable
from hw_sim.mqtt_broker import EmbeddedBroker
from hw_sim.mqtt_in_flight import MqttInFlight
from hw_sim.pepper import PepperSettings, SimulatedPepper, libqi_available
from hw_sim.signage import SimulatedDisplays
from onthaal.alert_channels import channels_of
from onthaal.backup import BackupError, site_lock
from onthaal.ble_stack import beacon_specs, build_ble, simulated_field, simulated_specs
from onthaal.config import Config, config_warnings
from onthaal.dialogue_setup import load_tablet_pages
from onthaal.fleet_stack import FleetSources, FleetWatch, alert_log_path, known_devices
from onthaal.logs import logging_in_use
from onthaal.loop_watch import LoopWatch
from onthaal.reception_stack import Reception, build_reception, follow_emergencies
from onthaal.scheduler_stack import LOOP_BUSY_TIMEOUT, build_dispatcher, open_store
from onthaal.signage_stack import (
    broker_settings,
    build_signage,
    content_signer,
    embedded_access,
)
from onthaal.supervisor import (
    Backoff,
    ChildHealth,
    ChildSpec,
    ChildState,
    Intensity,
    RestartIntensityExceeded,
    RestartPolicy,
    Supervisor,
    install_signal_handlers,
)
from onthaal.web.app import WebServices, create_app
from onthaal.web.app import serve as serve_web
from onthaal.web.bridge import WebProcess, WebStart
from onthaal.web.core import LocalCore, ReceptionCounts, RobotLink, SimControls
from onthaal.web.tablet_content import TabletContentError
from onthaal.web.users_stack import open_users, session_key
from robot.hal import BatteryState
from robot.hearing import PocketSphinx, StreamHearing
from robot.naoqi import NaoqiRobot
from robot.reception import TextsError
from robot.staff import HandoverRequest, StaffNotifier
from robot.stats import Tee
from scheduler.dispatch import Dispatcher
from scheduler.store import DatabaseUnusable
from scheduler.templates import TemplatesError, load_templates

log = logging.getLogger("onthaal.app")

# How often the health watcher looks at the children (seconds of the app's clock).
HEALTH_INTERVAL = 1.0


@dataclass
class Mode:
    """How to run: against real hardware or the simulator."""

    simulate: bool
    duration: float | None = None  # wall-clock seconds; None = until a signal
    config_path: Path = Path("robot.toml")


def supervisor_for(
    config: Config, name: str, children: list[ChildSpec], clock: Clock
) -> Supervisor:
    """A supervisor with the restart policy from ``[supervisor]``."""
    sup = config.supervisor
    return Supervisor(
        name,
        children,
        clock=clock,
        backoff=Backoff(initial=sup.backoff_initial, maximum=sup.backoff_max),
        intensity=Intensity(max_restarts=sup.max_restarts, period=sup.restart_period),
        rng=random.Random(config.sim.seed),
    )


class HealthWatcher:
    """Logs every change in a child's health, so the log tells the supervisor's story."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._supervisor: Supervisor | None = None
        self._last: dict[str, tuple[ChildState, int, str | None]] = {}

    def watch(self, supervisor: Supervisor) -> None:
        """Watch ``supervisor``'s children (set once the supervisor exists)."""
        self._supervisor = supervisor

    async def run(self) -> None:
        """Check the children every :data:`HEALTH_INTERVAL` and log what changed."""
        while True:
            if self._supervisor is not None:
                for health in self._supervisor.health():
                    seen = (health.state, health.restarts, health.problem)
                    if self._last.get(health.name) != seen:
                        self._last[health.name] = seen
                        log.info(
                            "health %s: %s%s",
                            health.name,
                            health.state,
                            f" ({health.problem})" if health.problem else "",
                            extra={"restarts": health.restarts, "last_error": health.last_error},
                        )
            await self._clock.sleep(HEALTH_INTERVAL)


def _journal(config: Config, clock: Clock) -> Journal:
    path = Path(config.sim.journal) if config.sim.journal else None
    return Journal(clock, path)


@dataclass
class RobotParts:
    """The robot side of the system, for the supervisor and the web app."""

    children: list[ChildSpec]
    reception: Reception
    robot: NaoqiRobot
    sim: SimulatedPepper | None = None

    @property
    def staff(self) -> StaffNotifier:
        """Where hand-over requests are announced."""
        return self.reception.staff


# Real seconds the behaviours wait for the web app (the tablet's pages) before starting
# without it: a robot whose web app cannot start still greets its visitors.
WEB_WAIT = 15.0


def reception_children(
    config: Config,
    mode: Mode,
    clock: Clock,
    journal: Journal,
    tablet_token: str,
    web_up: asyncio.Event,
) -> RobotParts:
    """The robot link, the reception behaviours, and the simulated Pepper when simulating.

    Also returns where hand-over requests are announced. Raises KnowledgeBaseError or
    TextsError when the content files are unusable. The behaviours start once the web
    app is up (``web_up``; at most :data:`WEB_WAIT`): their first act is a tablet page.
    """

    async def behaviours(reception: Reception) -> None:
        try:
            await asyncio.wait_for(web_up.wait(), WEB_WAIT)  # clock-ok: a process starting
        except TimeoutError:
            log.warning("the web app is not up after %g s: the tablet shows nothing", WEB_WAIT)
        await reception.engine.run()

    def stream_hearing(vocabulary: Mapping[str, Sequence[str]]) -> StreamHearing:
        base = mode.config_path.parent
        models = {lang: base / folder for lang, folder in config.robot.stream_models.items()}
        return StreamHearing(PocketSphinx({k: list(v) for k, v in vocabulary.items()}, models))

    robot_settings = {
        "clock": clock,
        "hearing": stream_hearing if config.robot.listening == "stream" else None,
        "autonomous_life": config.robot.autonomous_life,
        "take_focus": config.robot.take_focus,
        "zone_limits": config.robot.zone_limits,
        "call_timeout": config.robot.call_timeout,
    }
    if not mode.simulate and config.robot.backend == "naoqi":
        robot = NaoqiRobot(config.robot.url, **robot_settings)  # type: ignore[arg-type]
        reception = build_reception(
            config, mode.config_path, robot, clock, tablet_token=tablet_token, semantic=True
        )
        children = [
            ChildSpec("robot-link", robot.run),
            ChildSpec("behaviours", functools.partial(behaviours, reception)),
            *_semantic_children(reception),
        ]
        return RobotParts(children, reception, robot)

    sim = SimulatedPepper(
        clock,
        journal,
        listen=config.sim.robot_listen,
        transport=config.sim.transport,
        settings=pepper_settings(config),
    )
    robot = NaoqiRobot(
        lambda: sim.url,
        session_factory=sim.session_factory,
        **robot_settings,  # type: ignore[arg-type]
    )
    reception = build_reception(
        config, mode.config_path, robot, clock, tablet_token=tablet_token, semantic=True
    )

    def journal_handover(request: HandoverRequest) -> None:
        sim.journal.record(
            "staff",
            "handover",
            reason=request.reason,
            language=request.language,
            intent=request.intent,
        )

    reception.staff.subscribe(journal_handover)

    async def simulated_link() -> None:
        await sim.started.wait()
        await robot.run()

    children = [
        ChildSpec("sim-pepper", sim.run),
        ChildSpec("robot-link", simulated_link),
        ChildSpec("behaviours", functools.partial(behaviours, reception)),
        *_semantic_children(reception),
    ]
    return RobotParts(children, reception, robot, sim)


def _semantic_children(reception: Reception) -> list[ChildSpec]:
    """The one-off job that readies the semantic stage, if one is configured.

    Until it is done (seconds the first time for a knowledge base, a file read after)
    the robot understands with words alone; under a virtual clock, time waits for it.
    """
    stage = reception.situation.dialogue.semantic
    if stage is None:
        return []

    async def prepare() -> None:
        await stage.prepare_in_threads()

    return [ChildSpec("semantic", prepare, RestartPolicy.TEMPORARY)]


@dataclass
class SignageParts:
    """The signage side: its children, the driver, and what stands in for hardware."""

    children: list[ChildSpec]
    signage: Signage
    broker: EmbeddedBroker | None = None  # the amqtt broker, which faults can stop
    screens: SimulatedDisplays | None = None
    # In simulation: whether an MQTT message is on its way (for a virtual clock).
    in_flight: MqttInFlight | None = None


def signage_children(
    config: Config, mode: Mode, clock: Clock, journal: Journal, staff: StaffNotifier
) -> SignageParts:
    """The embedded broker (if configured), simulated screens (if simulating), the driver.

    Hand-over requests are announced on ``onthaal/<site>/staff/handover``.
    """
    children: list[ChildSpec] = []
    broker_ready = asyncio.Event()
    broker: EmbeddedBroker | None = None
    screens: SimulatedDisplays | None = None
    accounts = None
    if config.mqtt.embedded:
        access, accounts = embedded_access(config, mode.config_path)
        if _embedded_mosquitto(config, mode):
            mosquitto = MosquittoBroker(config.mqtt.host, config.mqtt.port, access)
            broker_ready = mosquitto.started
            children.append(
                ChildSpec("mqtt-broker", mosquitto.run_until_cancelled, probe=mosquitto.problem)
            )
        else:
            broker = EmbeddedBroker(config.mqtt.host, config.mqtt.port, access)
            broker_ready = broker.started
            children.append(
                ChildSpec("mqtt-broker", broker.run_until_cancelled, probe=broker.problem)
            )
    else:
        broker_ready.set()

    def after_broker(run: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def start() -> None:
            await broker_ready.wait()
            await run()

        return start

    if config.displays:
        log.info(
            "displays check content with the site's public key %s",
            content_signer(config, mode.config_path).public_key,
        )
    in_flight = MqttInFlight(broker.in_flight if broker is not None else None)
    track = in_flight.track if mode.simulate else None
    signage = build_signage(config, mode.config_path, clock, track)
    if mode.simulate and config.displays:
        screens = SimulatedDisplays(
            [d.id for d in config.displays],
            config.site.id,
            broker_settings(config, mode.config_path, track),
            clock,
            journal,
            credentials=accounts.credentials if accounts is not None else None,
            public_key=content_signer(config, mode.config_path).public_key,
        )
        children.append(ChildSpec("sim-displays", after_broker(screens.run)))

    def announce(request: HandoverRequest) -> None:
        signage.notify_handover(
            json.dumps(
                {
                    "schema": 1,
                    "at": request.at.isoformat(),
                    "reason": request.reason,
                    "language": request.language,
                    "intent": request.intent,
                }
            ).encode()
        )

    staff.subscribe(announce)
    children.append(ChildSpec("signage", after_broker(signage.run), probe=signage.problem))
    return SignageParts(children, signage, broker, screens, in_flight if mode.simulate else None)


def _embedded_mosquitto(config: Config, mode: Mode) -> bool:
    """Whether the embedded broker is mosquitto (``[mqtt] broker``) rather than amqtt."""
    if mode.simulate:
        if config.mqtt.broker == "mosquitto":
            log.info(
                "mqtt.broker: a simulation runs the embedded amqtt broker (its virtual clock "
                "must see the messages inside the broker); 'onthaal run' runs mosquitto"
            )
        return False
    if config.mqtt.broker == "auto":
        return mosquitto_executable() is not None
    return config.mqtt.broker == "mosquitto"


@dataclass
class BleParts:
    """The BLE side: its children, the driver, the simulated field, readiness."""

    children: list[ChildSpec]
    driver: BleBeacons | None
    ready: asyncio.Event
    field: BeaconField | None = None


def ble_children(config: Config, mode: Mode, clock: Clock, journal: Journal) -> BleParts:
    """The BLE driver, and the simulated beacons when simulating.

    ``ready`` is set once the driver can reach the beacons.
    """
    ready = asyncio.Event()
    if not config.beacons:
        ready.set()
        return BleParts([], None, ready)
    simulate = mode.simulate or config.ble.backend == "sim"
    specs = simulated_specs(config) if simulate else beacon_specs(config)
    driver = build_ble(config, clock, specs)
    children: list[ChildSpec] = []
    field = simulated_field(config, clock, journal) if simulate else None
    if field is not None:
        children.append(ChildSpec("sim-beacons", field.run))

    async def run_driver() -> None:
        if field is not None:
            await field.started.wait()
            driver.attach(*field.backend())
        ready.set()
        await driver.run()

    children.append(ChildSpec("ble", run_driver, probe=driver.problem))
    return BleParts(children, driver, ready, field)


def scheduler_children(
    config: Config,
    mode: Mode,
    clock: Clock,
    signage: Signage,
    beacons: BleBeacons | None,
    beacons_ready: asyncio.Event,
) -> tuple[list[ChildSpec], Dispatcher]:
    """The dispatcher: what every display and beacon shows, pushed when it changes.

    Devices with nothing scheduled get their configured default from the first second.
    """
    store = open_store(config, mode.config_path, busy_timeout=LOOP_BUSY_TIMEOUT)
    dispatcher = build_dispatcher(
        config, store, clock, displays=signage, beacons=beacons, config_path=mode.config_path
    )

    async def run() -> None:
        await beacons_ready.wait()
        await dispatcher.run()

    return [ChildSpec("scheduler", run, probe=dispatcher.problem)], dispatcher


def fleet_children(
    config: Config,
    mode: Mode,
    clock: Clock,
    signage: Signage,
    beacons: BleBeacons | None,
    dispatcher: Dispatcher,
    robot: RobotParts,
) -> tuple[list[ChildSpec], FleetWatch]:
    """The fleet watcher: every device's health, and alerts by e-mail and webhook."""
    alerts = config.alerts
    sources = FleetSources(
        devices=known_devices(config),
        displays=signage.states,
        beacons=beacons.states if beacons is not None else dict,
        status=dispatcher.status,
        robot_present=True,
        robot_connected=lambda: robot.robot.connected,
        robot_last_seen=lambda: robot.robot.last_seen,
        robot_battery=lambda: _percent(robot.robot.known_battery),
    )
    on_change = None
    if config.mqtt.home_assistant:
        prefix, topics = config.mqtt.home_assistant_prefix, signage.topics

        def on_change(fleet: tuple[Health, ...]) -> None:
            """Every device's health, retained, and the discovery configs for it."""
            for topic, payload in discovery(topics, prefix, fleet):
                signage.retain(topic, payload)
            for health in fleet:
                signage.retain(topics.fleet(health.device), state_payload(health))

    watch = FleetWatch(
        config,
        clock,
        sources,
        AlertLog(alert_log_path(config, mode.config_path), busy_timeout=LOOP_BUSY_TIMEOUT),
        channels_of(alerts.email, alerts.webhook),
        on_change=on_change,
    )
    return [ChildSpec("fleet", watch.run)], watch


class WebParts:
    """The staff web app and API: in a process of its own, or (in-memory data) in this one.

    The web app sees the system through a :class:`~onthaal.web.core.LocalCore` only: a
    snapshot of what the parts hold, and three requests (see :mod:`onthaal.web.core`).
    """

    def __init__(
        self,
        config: Config,
        mode: Mode,
        clock: Clock,
        dispatcher: Dispatcher,
        signage: Signage,
        beacons: BleBeacons | None,
        robot: RobotParts,
        tablet_token: str,
        ready: asyncio.Event,
        fleet: FleetWatch | None = None,
    ) -> None:
        """Wire the web app to every part it shows or changes (``ready``: it listens)."""
        self._config = config
        self._tablet_token = tablet_token
        self.tablet_token = tablet_token  # the robot's key to its tablet pages
        self.ready = ready
        self._mode = mode
        self._clock = clock
        self._supervisor: Supervisor | None = None
        self._fleet = fleet
        self.store = dispatcher.store
        self.users = open_users(config, mode.config_path)
        self.reception = ReceptionCounts()
        situation = robot.reception.situation
        situation.statistics = Tee(situation.statistics, self.reception)
        sim = robot.sim
        loop = asyncio.get_running_loop()
        self.core = LocalCore(
            clock,
            dispatcher,
            health=self._health,
            signage=signage,
            ble=beacons,
            robot=RobotLink(
                running=lambda: list(robot.reception.engine.running),
                battery=lambda: _percent(robot.robot.known_battery),
                connected=lambda: robot.robot.connected,
                last_seen=lambda: robot.robot.last_seen,
                present=True,
                caption=lambda: robot.reception.engine.captions.current,
                tablet=robot.robot.tablet_input,
            ),
            reception=self.reception,
            fleet=fleet.fleet if fleet is not None else tuple,
            sim=SimControls(
                approach=lambda track, zone: sim.world.approach(track, zone),
                leave=lambda track: sim.world.leave(track),
                hear=lambda text, language: sim.world.hear(text, language),
            )
            if sim is not None and mode.simulate
            else None,
            wake=loop.call_soon_threadsafe,
        )

    @property
    def own_process(self) -> bool:
        """Whether the web app runs in its own process (not for in-memory databases)."""
        return (
            self._config.web.own_process
            and not self.store.in_memory
            and str(self._config.web.users) != ":memory:"
        )

    def watch(self, supervisor: Supervisor) -> None:
        """Report this supervisor's children in /healthz and /metrics."""
        self._supervisor = supervisor

    def _health(self) -> list[ChildHealth]:
        return self._supervisor.health() if self._supervisor is not None else []

    def child(self) -> ChildSpec:
        """The supervised web server (the web process, or uvicorn on this loop)."""
        web = self._config.web
        if self.own_process:
            log_format, log_level = logging_in_use()
            speed = getattr(self._clock, "speed", 1.0)
            start = WebStart(
                config=self._config,
                config_path=self._mode.config_path.resolve(),
                log_format=log_format,
                log_level=log_level,
                simulate=self._mode.simulate,
                speed=speed,
                tablet_token=self._tablet_token,
            )
            return ChildSpec("web", WebProcess(self.core, start, self.ready).run)
        services = WebServices(
            config=self._config,
            config_path=self._mode.config_path,
            clock=self._clock,
            users=self.users,
            store=self.store,
            core=self.core,
            tablet_token=self._tablet_token,
            session_key=session_key(self._config, self._mode.config_path),
            alerts=self._fleet.log if self._fleet is not None else None,
        )
        app = create_app(services)

        async def serve_here() -> None:
            self.ready.set()  # uvicorn binds within this loop's next few steps
            await serve_web(app, web.host, web.port)

        return ChildSpec("web", serve_here)


@dataclass
class System:
    """Every part of Onthaal for one config, with handles on what stands in for hardware."""

    children: list[ChildSpec]
    robot: RobotParts
    signage: SignageParts
    ble: BleParts
    dispatcher: Dispatcher
    web: WebParts
    fleet: FleetWatch


def _percent(battery: BatteryState | None) -> int | None:
    return battery.percent if battery is not None else None


def pepper_settings(config: Config) -> PepperSettings:
    """The simulated Pepper as ``[sim]`` describes it."""
    return PepperSettings(
        languages=tuple(config.sim.robot_languages),
        preferred_language=config.sim.preferred_language,
        reidentify_rate=config.sim.reidentify_rate,
        asr_miss_rate=config.sim.asr_miss_rate,
        asr_confusion_rate=config.sim.asr_confusion_rate,
        seed=config.sim.seed,
    )


def build_system(config: Config, mode: Mode, clock: Clock, journal: Journal) -> System:
    """All supervised children, in start order.

    Raises KnowledgeBaseError, TextsError or TabletContentError for unusable content (the
    web app, in its own process, loads the tablet pages again: they are checked here, so
    that a bad file stops the start with its problems instead of the web app looping).
    """
    # The robot's key to its tablet pages, new at every start (see onthaal/web/tablet.py).
    tablet_token = secrets.token_urlsafe(18)
    web_up = asyncio.Event()
    robot = reception_children(config, mode, clock, journal, tablet_token, web_up)
    load_tablet_pages(config, mode.config_path, robot.reception.situation.dialogue.kb)
    load_templates(  # the web app loads them again; a bad file stops the start here
        mode.config_path.parent / config.scheduler.emergency_templates,
        tuple(config.site.languages),
    )
    signage = signage_children(config, mode, clock, journal, robot.staff)
    ble = ble_children(config, mode, clock, journal)
    scheduler_parts, dispatcher = scheduler_children(
        config, mode, clock, signage.signage, ble.driver, ble.ready
    )
    follow_emergencies(robot.reception, dispatcher, config.behaviours.zone)
    fleet_parts, fleet = fleet_children(
        config, mode, clock, signage.signage, ble.driver, dispatcher, robot
    )
    web = WebParts(
        config,
        mode,
        clock,
        dispatcher,
        signage.signage,
        ble.driver,
        robot,
        tablet_token,
        web_up,
        fleet,
    )
    children = [
        *signage.children,
        *ble.children,
        *scheduler_parts,
        *robot.children,
        *fleet_parts,
        web.child(),
    ]
    return System(children, robot, signage, ble, dispatcher, web, fleet)


def build_clock(config: Config, mode: Mode) -> tuple[Clock, VirtualClock | None]:
    """The real clock, or in simulation a virtual one at ``[sim] speed``."""
    if not mode.simulate:
        return RealClock(), None
    virtual = VirtualClock(datetime.now(UTC), speed=config.sim.speed)
    return virtual, virtual


async def serve(config: Config, mode: Mode) -> int:
    """Run Onthaal under its supervisor until a signal, ``duration`` or escalation.

    Returns the process exit code: 0 after a clean stop, 1 if the supervisor gave up.
    """
    try:
        with site_lock(config, mode.config_path):
            return await _serve_locked(config, mode)
    except BackupError as exc:  # another Onthaal holds this site's data
        print(exc, file=sys.stderr)
        return 2


async def _serve_locked(config: Config, mode: Mode) -> int:
    clock, virtual = build_clock(config, mode)
    journal = _journal(config, clock)
    try:
        system = build_system(config, mode, clock, journal)
    except (KnowledgeBaseError, TextsError, TabletContentError, TemplatesError) as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except DatabaseUnusable as exc:
        print(exc, file=sys.stderr)
        return 2
    if virtual is not None:
        await virtual.__aenter__()
    watcher = HealthWatcher(clock)
    loop_watch = LoopWatch()
    children = [
        *system.children,
        ChildSpec("health", watcher.run, RestartPolicy.PERMANENT),
        ChildSpec("loop-watch", loop_watch.run, RestartPolicy.PERMANENT),
    ]
    supervisor = supervisor_for(config, "onthaal", children, clock)
    watcher.watch(supervisor)
    system.web.watch(supervisor)
    remove_handlers = install_signal_handlers(supervisor)
    stopper = (
        asyncio.get_running_loop().call_later(mode.duration, supervisor.stop)
        if mode.duration is not None
        else None
    )
    for warning in config_warnings(config):
        log.warning("config: %s", warning)
    log.info(
        "onthaal starting",
        extra={"site": config.site.id, "mode": "sim" if mode.simulate else "run"},
    )
    try:
        await supervisor.run()
    except RestartIntensityExceeded as exc:
        log.error("giving up: %s", exc)
        return 1
    finally:
        if stopper is not None:
            stopper.cancel()
        remove_handlers()
        if virtual is not None:
            await virtual.__aexit__(None, None, None)
    log.info("onthaal stopped")
    return 0


async def serve_sim_robot(config: Config, listen: str, journal: Path | None) -> int:
    """Run the simulated Pepper alone on libqi, for integrators' own qi code."""
    if not libqi_available():
        log.error("onthaal sim-robot needs the qi package (libqi-python), which is not installed")
        return 1
    clock = VirtualClock(datetime.now(UTC), speed=config.sim.speed)
    async with clock:
        sim = SimulatedPepper(
            clock,
            Journal(clock, journal),
            listen=listen,
            transport="libqi",
            settings=pepper_settings(config),
        )
        supervisor = supervisor_for(config, "sim-robot", [ChildSpec("sim-pepper", sim.run)], clock)
        remove_handlers = install_signal_handlers(supervisor)
        runner = asyncio.create_task(supervisor.run())
        try:
            started = asyncio.create_task(sim.started.wait())
            await asyncio.wait({started, runner}, return_when=asyncio.FIRST_COMPLETED)
            if sim.started.is_set():
                print(f"simulated Pepper listening on {sim.url}", flush=True)
            await runner
        except RestartIntensityExceeded as exc:
            log.error("giving up: %s", exc)
            return 1
        finally:
            remove_handlers()
    return 0
