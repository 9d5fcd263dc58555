"""Emergency notices ready to raise (``content/emergency/templates.toml``).

The reception desk picks one (evacuation, fire, building closed, stay inside) and may
change the words before raising it; the municipality's admins keep the file. Every site
language needs a title, so a notice never lacks a language a screen shows.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from beacons.content import LocalizedContent
from scheduler.parse import first_error


class TemplatesError(Exception):
    """The templates file cannot be used; ``problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Template:
    """One ready notice: its name for staff and its words per language."""

    id: str
    label: dict[str, str]
    content: dict[str, LocalizedContent]


def read_toml(path: Path) -> dict[str, Any]:
    """A content file's tables; raises :class:`TemplatesError` naming the file and why."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplatesError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplatesError([f"{path}: not valid TOML: {exc}"]) from None


def load_templates(path: Path, languages: tuple[str, ...]) -> dict[str, Template]:
    """Every template in ``path``, checked; raises :class:`TemplatesError`."""
    data = read_toml(path)
    problems: list[str] = []
    found: dict[str, Template] = {}
    for name, table in data.items():
        where = f"{path}: [{name}]"
        if not isinstance(table, dict):
            problems.append(f"{where}: a table of languages, please")
            continue
        label = table.get("label", {})
        if not isinstance(label, dict) or not all(isinstance(v, str) for v in label.values()):
            problems.append(f"{where}: label: a text per language")
            label = {}
        content: dict[str, LocalizedContent] = {}
        for language in languages:
            item = table.get(language)
            if not isinstance(item, dict):
                problems.append(f"{where}: {language}: missing (every site language needs one)")
                continue
            try:
                content[language] = LocalizedContent.model_validate(item)
            except ValidationError as exc:
                problems.append(f"{where}: {language}.{first_error(exc)}")
        unknown = sorted(set(table) - {"label", *languages})
        problems += [f"{where}: {key}: not a site language or 'label'" for key in unknown]
        found[name] = Template(name, {str(k): str(v) for k, v in label.items()}, content)
    if problems:
        raise TemplatesError(problems)
    return found
