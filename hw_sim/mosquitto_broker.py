"""mosquitto as the embedded broker, when it is installed: a supervised child process.

The same accounts and rules as the amqtt fallback (:class:`hw_sim.mqtt_broker.
BrokerAccess`), written as mosquitto's own files in a private folder: no anonymous
client, each account to its own topics, and ``use_username_as_clientid`` so a client
can only ever hold its own account's client id. mosquitto closes an older connection
when a client id connects again (MQTT 3.1.1 section 3.1.4); its log says so, and
:meth:`MosquittoBroker.problem` reports it like the amqtt fallback does.

The process never outlives Onthaal: it is started under ``setpriv --pdeathsig``, so the
kernel ends it when its parent dies, even by SIGKILL. Started as root, it runs as the
``mosquitto`` user (and its files belong to it), as a packaged mosquitto does. Its files
are written anew at every start into a fresh private folder of the system's temporary
directory (which that user can reach, unlike, say, a data folder under /root), and
removed when it stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from hw_sim.broker_access import BrokerAccess, Takeovers

log = logging.getLogger("onthaal.sim.broker")

START_WAIT = 10.0  # real seconds mosquitto has to listen
STOP_WAIT = 3.0  # real seconds between SIGTERM and SIGKILL
_TAKEOVER = re.compile(r"Client (\S+) already connected, closing old connection")


def mosquitto_executable() -> str | None:
    """Where mosquitto is installed (Debian puts it in /usr/sbin), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def password_line(name: str, password: str) -> str:
    """One line of mosquitto's password file, hashed as mosquitto 2 stores it.

    ``$7$``: PBKDF2-SHA512, 101 rounds, a 12-byte salt; so the file needs no
    ``mosquitto_passwd``.
    """
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    return f"{name}:$7$101${_b64(salt)}${_b64(digest)}"


def acl_text(access: BrokerAccess) -> str:
    """mosquitto's ACL file: per account, the topics it may write and read."""
    rules = []
    for name in sorted(access.passwords):
        rules.append(f"user {name}")
        rules += [f"topic write {topic}" for topic in access.publish.get(name, [])]
        rules += [f"topic read {topic}" for topic in access.subscribe.get(name, [])]
        rules.append("")
    return "\n".join(rules)


def write_access_files(folder: Path, access: BrokerAccess) -> tuple[Path, Path]:
    """``passwd`` and ``acl`` for ``access`` in ``folder`` (0700), each 0600."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    passwd, acl = folder / "passwd", folder / "acl"
    lines = [password_line(n, p) for n, p in sorted(access.passwords.items())]
    private_file(passwd, "\n".join(lines) + "\n")
    private_file(acl, acl_text(access))
    return passwd, acl


def private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (0600)."""
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)


class MosquittoBroker:
    """mosquitto on ``host:port``; a supervised child."""

    def __init__(
        self, host: str, port: int, access: BrokerAccess, executable: str | None = None
    ) -> None:
        """A broker for ``host:port``; :meth:`run_until_cancelled` runs it."""
        found = executable or mosquitto_executable()
        if found is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.executable = found
        self.host = host
        self.port = port
        self.folder: Path | None = None  # while it runs: where its files are
        self._access = access
        self.started = asyncio.Event()
        self.takeovers = Takeovers()
        self._last_lines: deque[str] = deque(maxlen=5)

    def write_config(self, folder: Path) -> Path:
        """mosquitto.conf, passwd and acl in ``folder`` (0600, the broker's own)."""
        passwd, acl = write_access_files(folder, self._access)
        conf = folder / "mosquitto.conf"
        private_file(
            conf,
            "# Written by Onthaal at every start (the embedded broker); edits are lost.\n"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous false\n"
            f"password_file {passwd}\nacl_file {acl}\n"
            "use_username_as_clientid true\n"
            "persistence false\nmax_queued_messages 10000\n"
            # Content is at most a few dozen KiB (4 languages of 2,000 characters, signed):
            # a client sending 50 MB is dropped by the broker, not read into memory.
            "max_packet_size 262144\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            "log_timestamp false\n"
            # Root without a 'mosquitto' user: mosquitto would look for it and give up.
            + ("user root\n" if os.getuid() == 0 and _broker_user() is None else ""),
        )
        self._owned_by_broker_user([folder, passwd, acl, conf])
        return conf

    def _command(self, conf: Path) -> list[str]:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            log.warning(
                "setpriv (util-linux) is not installed: mosquitto may outlive Onthaal if "
                "Onthaal is killed"
            )
            return [self.executable, "-c", str(conf)]
        dropped = []
        if os.getuid() == 0 and _broker_user() is not None:
            # setpriv drops the privileges itself, so the death signal survives: the
            # kernel clears it when a process changes its own user.
            dropped = ["--reuid=mosquitto", "--regid=mosquitto", "--clear-groups"]
        return [setpriv, *dropped, "--pdeathsig", "TERM", "--", self.executable, "-c", str(conf)]

    @staticmethod
    def _owned_by_broker_user(paths: Iterable[Path]) -> None:
        user = _broker_user() if os.getuid() == 0 else None
        if user is None:
            return
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)

    async def run_until_cancelled(self) -> None:
        """Run mosquitto until cancelled (then stop it); raise if it ends by itself."""
        self.folder = Path(tempfile.mkdtemp(prefix="onthaal-mosquitto-"))
        try:
            await self._run(self.write_config(self.folder))
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    async def _run(self, conf: Path) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._command(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        reader = asyncio.create_task(self._read_log(process.stderr))
        try:
            await self._wait_listening(process)
            self.started.set()
            log.info("embedded MQTT broker (mosquitto) on %s:%d", self.host, self.port)
            code = await process.wait()
            await asyncio.wait_for(reader, 1.0)
            raise RuntimeError(f"mosquitto exited with {code}: {self._said()}")
        finally:
            self.started.clear()
            await _stop(process)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await reader

    async def _wait_listening(self, process: asyncio.subprocess.Process) -> None:
        address = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_WAIT
        while True:
            if process.returncode is not None:
                await asyncio.sleep(0.05)  # clock-ok: let its last words arrive
                raise RuntimeError(f"mosquitto exited with {process.returncode}: {self._said()}")
            try:
                _, writer = await asyncio.open_connection(address, self.port)
            except OSError:
                if loop.time() > deadline:
                    raise TimeoutError(
                        f"mosquitto did not listen on {self.host}:{self.port} within "
                        f"{START_WAIT:g} s: {self._said()}"
                    ) from None
                await asyncio.sleep(0.02)  # clock-ok: a real process starting
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return

    async def _read_log(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            self._last_lines.append(line)
            taken = _TAKEOVER.search(line)
            if taken:
                self.takeovers.record(taken[1])
            else:
                log.info("mosquitto: %s", line)

    def _said(self) -> str:
        return " / ".join(self._last_lines) or "(it said nothing)"

    def problem(self) -> str | None:
        """None when healthy; else the client ids two connections have been fighting over."""
        return self.takeovers.problem()

    def in_flight(self) -> tuple[int, ...]:
        """Nothing is known of messages inside another process (see hw_sim.mqtt_in_flight)."""
        return ()


def _broker_user() -> pwd.struct_passwd | None:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("mosquitto")
    return None


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_WAIT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
