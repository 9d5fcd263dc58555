"""A copy of the default ``robot.toml`` that a test process may run without collisions.

Content paths point back into the repository; the MQTT port is free and state files
(outbox, statistics) live in the test's own folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from hw_sim.brokers import free_port

REPO = Path(__file__).resolve().parent.parent


def isolated_config(folder: Path, **replace: str) -> Path:
    """Write ``folder/robot.toml``: the default config, made safe to run in parallel.

    ``replace`` maps a key (as written at the start of a line) to its new TOML value.
    """
    text = (REPO / "robot.toml").read_text(encoding="utf-8")
    values = {
        "knowledge_base": f'"{REPO / "content" / "kb"}"',
        "texts": f'"{REPO / "content" / "behaviours.toml"}"',
        "port": str(free_port()),
        **replace,
    }
    for key, value in values.items():
        text, count = re.subn(
            rf"^{re.escape(key)}\s*=\s*[^#\n]*", f"{key} = {value}", text, flags=re.MULTILINE
        )
        assert count == 1, f"robot.toml has {count} lines for {key!r}"
    path = folder / "robot.toml"
    path.write_text(text, encoding="utf-8")
    return path
