"""A copy of the default ``robot.toml`` that a test process may run without collisions.

Content paths point back into the repository; the MQTT and web ports are free and state
files (outbox, statistics) live in the test's own folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from hw_sim.brokers import free_port

REPO = Path(__file__).resolve().parent.parent


def isolated_config(folder: Path, **replace: str) -> Path:
    """Write ``folder/robot.toml``: the default config, made safe to run in parallel.

    ``replace`` maps ``section__key`` to a new TOML value (e.g. ``sim__speed="20.0"``).
    """
    values = {
        "dialogue.knowledge_base": f'"{REPO / "content" / "kb"}"',
        "chat.texts": f'"{REPO / "content" / "chat" / "chat.toml"}"',
        "behaviours.texts": f'"{REPO / "content" / "behaviours.toml"}"',
        "behaviours.tablet_pages": f'"{REPO / "content" / "tablet" / "tablet.toml"}"',
        "scheduler.emergency_templates": f'"{REPO / "content" / "emergency" / "templates.toml"}"',
        "scheduler.closed_notice": f'"{REPO / "content" / "signage" / "closed.toml"}"',
        "mqtt.port": str(free_port()),
        "web.port": str(free_port()),
        # The semantic stage costs seconds to prepare per knowledge base and config
        # folder: tests that want it say so (tests/test_dialogue_semantic.py).
        "dialogue.semantic": '"off"',
        **{key.replace("__", "."): value for key, value in replace.items()},
    }
    lines = (REPO / "robot.toml").read_text(encoding="utf-8").splitlines()
    section = ""
    done = set()
    for number, line in enumerate(lines):
        header = re.match(r"^\[([a-z_]+)\]", line)
        if header:
            section = header[1]
            continue
        key = re.match(r"^([a-z_]+)\s*=", line)
        if key and f"{section}.{key[1]}" in values:
            lines[number] = f"{key[1]} = {values[section + '.' + key[1]]}"
            done.add(f"{section}.{key[1]}")
    # Keys robot.toml leaves out (commented, defaulted) go right under their section.
    for wanted in sorted(set(values) - done):
        section, key_name = wanted.split(".")
        at = next((n for n, line in enumerate(lines) if line == f"[{section}]"), None)
        assert at is not None, f"robot.toml has no [{section}]"
        lines.insert(at + 1, f"{key_name} = {values[wanted]}")
    path = folder / "robot.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
