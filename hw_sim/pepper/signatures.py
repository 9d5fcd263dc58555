"""NAOqi 2.5's typed methods, and libqi's rules for calling them.

Every simulated method is declared here with its libqi signature, overload by overload,
as NAOqi 2.5 documents it (sources in ``docs/robot.md``). :func:`resolve` picks the
overload for a call the way libqi does (by arity, then by which arguments convert) and
converts the arguments; a call that fits no overload fails with libqi's own wording
("Arguments types did not match …", "Call argument number … conversion failure …"),
never with a Python error from inside the simulator. Both transports go through it, so a
client meets the same refusals over libqi and in-process.

Signature letters are libqi's: ``s`` string, ``i`` int, ``f`` float, ``b`` bool, ``v``
void, ``m`` any value, ``o`` object, ``[x]`` a list of ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class SignatureMismatch(RuntimeError):
    """No overload of the method takes these arguments (libqi's message)."""


class MethodMissing(AttributeError):
    """The service has no method of that name on a real robot."""


@dataclass(frozen=True)
class Overload:
    """One typed variant of a NAOqi method."""

    name: str
    params: str  # libqi signature letters, e.g. "ss"
    returns: str
    implementation: str  # the simulated service's Python method

    @property
    def types(self) -> list[str]:
        """The parameter types, one token each (``[s]`` is one token)."""
        return split_signature(self.params)

    @property
    def signature(self) -> str:
        """``say::(ss)``, as libqi prints a candidate."""
        return f"{self.name}::({self.params})"


def split_signature(signature: str) -> list[str]:
    """``"s[s]f"`` → ``["s", "[s]", "f"]``."""
    tokens: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(signature):
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if depth == 0:
            tokens.append(signature[start : index + 1])
            start = index + 1
    return tokens


def _overloads(service: str, table: Sequence[tuple[str, ...]]) -> dict[str, list[Overload]]:
    methods: dict[str, list[Overload]] = {}
    for row in table:
        name, params, returns = row[:3]
        implementation = row[3] if len(row) > 3 else name
        methods.setdefault(name, []).append(Overload(name, params, returns, implementation))
    return methods


# What each service offers on NAOqi 2.5 (the subset a reception application uses, with
# every documented overload of those methods). Rows: name, parameters, return[, impl].
_TABLE: dict[str, list[tuple[str, ...]]] = {
    "ALTextToSpeech": [
        ("say", "s", "v"),
        ("say", "ss", "v", "say_in"),
        ("setLanguage", "s", "v"),
        ("getLanguage", "", "s"),
        ("getAvailableLanguages", "", "[s]"),
        ("stopAll", "", "v"),
        ("setParameter", "sf", "v"),
        ("getParameter", "s", "f"),
        ("setVolume", "f", "v"),
        ("getVolume", "", "f"),
    ],
    "ALAnimatedSpeech": [
        ("say", "s", "v"),
        ("say", "sm", "v", "say_configured"),
    ],
    "ALSpeechRecognition": [
        ("setLanguage", "s", "v"),
        ("getLanguage", "", "s"),
        ("getAvailableLanguages", "", "[s]"),
        ("setVocabulary", "[s]b", "v"),
        ("pause", "b", "v"),
        ("subscribe", "s", "v"),
        ("unsubscribe", "s", "v"),
        ("setParameter", "sf", "v"),
        ("getParameter", "s", "f"),
        ("setAudioExpression", "b", "v"),
        ("setVisualExpression", "b", "v"),
    ],
    "ALTabletService": [
        ("showWebview", "", "b", "show_last"),
        ("showWebview", "s", "b"),
        ("loadUrl", "s", "b"),
        ("reloadPage", "b", "v"),
        ("hideWebview", "", "b"),
        ("executeJS", "s", "v"),
        ("showImage", "s", "b"),
        ("hideImage", "", "v"),
        ("hide", "", "v"),
        ("robotIp", "", "s"),
        ("setBrightness", "f", "b"),
        ("getBrightness", "", "f"),
        ("resetTablet", "", "v"),
    ],
    "ALMotion": [
        ("wakeUp", "", "v"),
        ("rest", "", "v"),
        ("robotIsWakeUp", "", "b"),
        ("moveTo", "fff", "b"),
        ("moveTo", "fffm", "b", "moveTo_configured"),
        ("moveTo", "ffff", "b", "moveTo_timed"),
        ("moveToward", "fff", "v"),
        ("moveToward", "fffm", "v", "moveToward_configured"),
        ("move", "fff", "v"),
        ("stopMove", "", "v"),
        ("moveIsActive", "", "b"),
        ("getRobotPosition", "b", "[f]"),
        ("angleInterpolationWithSpeed", "mmf", "v"),
        ("setExternalCollisionProtectionEnabled", "sb", "v"),
        ("getExternalCollisionProtectionEnabled", "s", "b"),
    ],
    "ALRobotPosture": [
        ("goToPosture", "sf", "b"),
        ("getPosture", "", "s"),
        ("getPostureList", "", "[s]"),
        ("getPostureFamily", "", "s"),
    ],
    "ALLeds": [
        ("fadeRGB", "sffff", "v", "fadeRGB_components"),
        ("fadeRGB", "ssf", "v", "fadeRGB_named"),
        ("fadeRGB", "sif", "v"),
        ("reset", "s", "v"),
        ("listGroups", "", "[s]"),
    ],
    "ALBattery": [
        ("getBatteryCharge", "", "i"),
    ],
    "ALAutonomousLife": [
        ("setState", "s", "v"),
        ("getState", "", "s"),
        ("focusedActivity", "", "s"),
        ("stopFocus", "", "v"),
        ("switchFocus", "s", "v"),
        ("setAutonomousAbilityEnabled", "sb", "v"),
        ("getAutonomousAbilityEnabled", "s", "b"),
        ("stopMonitoringLaunchpadConditions", "", "v"),
        ("isMonitoringLaunchpadConditions", "", "b"),
        ("setSafeguardEnabled", "sb", "v"),
    ],
    "ALMemory": [
        ("subscriber", "s", "o"),
        ("raiseEvent", "sm", "v"),
        ("insertData", "sm", "v"),
        ("getData", "s", "m"),
        ("getDataList", "s", "[s]"),
        ("declareEvent", "s", "v"),
        ("getEventList", "", "[s]"),
        ("subscribeToEvent", "sss", "v"),
        ("unsubscribeToEvent", "ss", "v"),
        ("removeData", "s", "v"),
    ],
    "ALPeoplePerception": [
        ("subscribe", "s", "v"),
        ("subscribe", "sif", "v", "subscribe_every"),
        ("unsubscribe", "s", "v"),
        ("resetPopulation", "", "v"),
        ("getTimeBeforePersonDisappears", "", "f"),
        ("setTimeBeforePersonDisappears", "f", "v"),
        ("getTimeBeforeVisiblePersonDisappears", "", "f"),
        ("setTimeBeforeVisiblePersonDisappears", "f", "v"),
        ("getMaximumDetectionRange", "", "f"),
        ("setMaximumDetectionRange", "f", "v"),
    ],
    "ALEngagementZones": [
        ("subscribe", "s", "v"),
        ("subscribe", "sif", "v", "subscribe_every"),
        ("unsubscribe", "s", "v"),
        ("getFirstLimitDistance", "", "f"),
        ("setFirstLimitDistance", "f", "b"),
        ("getSecondLimitDistance", "", "f"),
        ("setSecondLimitDistance", "f", "b"),
        ("getLimitAngle", "", "f"),
        ("setLimitAngle", "f", "b"),
    ],
    "ALBasicAwareness": [
        ("setEnabled", "b", "v"),
        ("isEnabled", "", "b"),
        ("pauseAwareness", "", "v"),
        ("resumeAwareness", "", "v"),
        ("isAwarenessPaused", "", "b"),
        ("setEngagementMode", "s", "v"),
        ("getEngagementMode", "", "s"),
        ("setTrackingMode", "s", "v"),
        ("getTrackingMode", "", "s"),
        ("engagePerson", "i", "b"),
    ],
    "ALTouch": [
        ("getSensorList", "", "[s]"),
        ("getStatus", "", "m"),
    ],
    "ALAudioDevice": [
        ("setOutputVolume", "i", "v"),
        ("getOutputVolume", "", "i"),
        ("muteAudioOut", "b", "v"),
        ("isAudioOutMuted", "", "b"),
        ("setClientPreferences", "siii", "v"),
        ("subscribe", "s", "v"),
        ("unsubscribe", "s", "v"),
    ],
    "ALRecharge": [
        ("goToStation", "", "i"),
        ("leaveStation", "", "i"),
        ("getStatus", "", "i"),
    ],
    "ALSystem": [
        ("robotName", "", "s"),
        ("systemVersion", "", "s"),
        ("timezone", "", "s"),
    ],
    # Not NAOqi: the simulator's own control surface (what sensors would see, faults).
    "OnthaalSimulator": [
        ("approach", "ii", "v"),
        ("leave", "i", "v"),
        ("hear", "ss", "v"),
        ("tapTablet", "s", "v"),
        ("touchHead", "", "v"),
        ("setBattery", "fb", "v"),
        ("setHatchOpen", "b", "v"),
        ("setObstacle", "f", "v"),
        ("dropConnection", "f", "v"),
        ("failService", "ss", "v"),
        ("slowService", "sf", "v"),
        ("clearFaults", "", "v"),
        ("journal", "i", "[s]"),
        ("subscribedKeys", "", "[s]"),
    ],
}

SIGNATURES: dict[str, dict[str, list[Overload]]] = {
    service: _overloads(service, rows) for service, rows in _TABLE.items()
}

#: Signals services expose besides their methods (name → libqi signature).
SIGNALS: dict[str, dict[str, str]] = {
    "ALTabletService": {"onJSEvent": "(s)", "onTouchDown": "(ff)"},
}

_PRETTY = {"s": "String", "i": "Int32", "f": "Float", "b": "Bool", "m": "Dynamic", "o": "Object"}


def _kind(value: Any) -> str:
    """The libqi signature of a Python value, as libqi-python would send it."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "l" if not -(2**31) <= value < 2**31 else "i"
    if isinstance(value, float):
        return "d"
    if isinstance(value, str):
        return "s"
    if isinstance(value, list | tuple):
        inner = {_kind(item) for item in value}
        return f"[{inner.pop() if len(inner) == 1 else 'm'}]"
    if isinstance(value, dict):
        return "{sm}"
    if value is None:
        return "v"
    return "o"


def _pretty(token: str) -> str:
    if token.startswith("["):
        return f"List<{_pretty(token[1:-1])}>"
    return _PRETTY.get(token, {"l": "Int64", "d": "Double", "v": "Void"}.get(token, token))


_MISSING = object()


def _convert(value: Any, token: str) -> Any:
    """``value`` as a parameter of type ``token``, or ``_MISSING`` when libqi refuses."""
    if token == "m":
        return value
    if token in ("i", "f"):
        if isinstance(value, bool | int | float):
            if token == "i":
                if isinstance(value, float) and not value.is_integer():
                    return _MISSING
                return int(value)
            return float(value)
        return _MISSING
    if token == "b":
        return value if isinstance(value, bool) else _MISSING
    if token == "s":
        return value if isinstance(value, str) else _MISSING
    if token.startswith("["):
        if not isinstance(value, list | tuple):
            return _MISSING
        items = [_convert(item, token[1:-1]) for item in value]
        return _MISSING if any(item is _MISSING for item in items) else items
    if token == "o":
        return value
    return _MISSING


def _exact(value: Any, token: str) -> bool:
    kind = _kind(value)
    return token == "m" or kind == token or (token == "f" and kind == "d")


def methods(service: str) -> dict[str, list[Overload]]:
    """Every method of ``service`` and its overloads (empty for an unknown service)."""
    return SIGNATURES.get(service, {})


def resolve(service: str, method: str, args: Sequence[Any]) -> tuple[Overload, list[Any]]:
    """The overload libqi would call for ``args``, and the arguments converted to it."""
    overloads = methods(service).get(method)
    if not overloads:
        raise MethodMissing(f"'{service}' object has no attribute '{method}'")
    fitting = [o for o in overloads if len(o.types) == len(args)]
    # Like libqi: an overload whose types match exactly wins over one that needs conversion.
    fitting.sort(key=lambda o: -sum(_exact(a, t) for a, t in zip(args, o.types, strict=True)))
    for overload in fitting:
        converted = [_convert(a, t) for a, t in zip(args, overload.types, strict=True)]
        if all(c is not _MISSING for c in converted):
            return overload, converted
    if len(fitting) == 1:
        resolve_for(fitting[0], service, args)  # raises libqi's conversion failure
    candidates = "\n".join(f"  {o.signature} (1)" for o in overloads)
    label = "Candidate" if len(overloads) == 1 else "Candidates"
    resolved = "".join(_kind(a) for a in args)
    raise SignatureMismatch(
        f"Arguments types did not match for {method} (resolved to '({resolved})'):\n"
        f"  {label}:\n{candidates}\n"
    )


def resolve_for(overload: Overload, service: str, args: Sequence[Any]) -> list[Any]:
    """``args`` converted to ``overload``'s types, or libqi's conversion failure."""
    if len(args) != len(overload.types):
        raise SignatureMismatch(
            f"{service}.{overload.name}: expected {len(overload.types)} arguments, got {len(args)}"
        )
    converted = []
    for number, (arg, token) in enumerate(zip(args, overload.types, strict=True)):
        value = _convert(arg, token)
        if value is _MISSING:
            raise SignatureMismatch(
                f"Call argument number {number} conversion failure from "
                f"{_pretty(_kind(arg))} to {_pretty(token)}. Function signature: "
                f"{_pretty(overload.returns)}({','.join(map(_pretty, overload.types))})."
            )
        converted.append(value)
    return converted


def check_return(overload: Overload, value: Any) -> Any:
    """``value`` as the overload's return type; a simulator bug if it does not fit."""
    if overload.returns == "v":
        if value is not None:
            raise TypeError(f"{overload.signature} returns void, the simulator gave {value!r}")
        return None
    if overload.returns == "o":
        return value
    converted = _convert(value, overload.returns)
    if converted is _MISSING:
        raise TypeError(f"{overload.signature} returns {overload.returns}, got {value!r}")
    return converted
