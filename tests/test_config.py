"""robot.toml: the shipped default is valid; every kind of mistake is named precisely."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from onthaal.cli import main
from onthaal.config import ConfigError, load_config
from tests.configs import isolated_config

REPO = Path(__file__).resolve().parent.parent

VALID = """\
[site]
id = "cityhall"
name = "Gemeentehuis"

[robot]
backend = "sim"
url = "tcp://127.0.0.1:9559"
"""


def test_the_shipped_robot_toml_is_valid_and_runs_on_the_simulator() -> None:
    config = load_config(REPO / "robot.toml")
    assert config.robot.backend == "sim"
    assert config.site.id == "cityhall"
    assert config.site.default_language == "nl"


def test_check_config_prints_ok_for_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # check-config also loads the content the file refers to, here the shipped content.
    path = tmp_path / "robot.toml"
    path.write_text(
        VALID
        + f'\n[dialogue]\nknowledge_base = "{REPO / "content" / "kb"}"\n'
        + f'\n[behaviours]\ntexts = "{REPO / "content" / "behaviours.toml"}"\n'
        + f'tablet_pages = "{REPO / "content" / "tablet" / "tablet.toml"}"\n'
        + f'\n[chat]\ntexts = "{REPO / "content" / "chat" / "chat.toml"}"\n'
        + "\n[scheduler]\n"
        + f'emergency_templates = "{REPO / "content" / "emergency" / "templates.toml"}"\n'
        + f'closed_notice = "{REPO / "content" / "signage" / "closed.toml"}"\n'
    )
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out == "ok\n"


def test_check_config_names_content_that_would_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "robot.toml"
    path.write_text(VALID)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "[dialogue] knowledge_base:" in err and "not a folder" in err
    assert "[behaviours] texts:" in err


def test_defaults_fill_in_what_a_minimal_file_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.write_text(VALID)
    config = load_config(path)
    assert config.site.timezone == "Europe/Brussels"
    assert config.site.languages == ["nl", "fr", "en", "de"]
    assert config.supervisor.max_restarts == 5


MALFORMED: list[tuple[str, str, list[str]]] = [
    (
        "bad robot URL",
        VALID.replace("tcp://127.0.0.1:9559", "tcp//x"),
        ["robot.url: invalid URL 'tcp//x' (expected tcp://host:port)"],
    ),
    (
        "URL without port",
        VALID.replace("tcp://127.0.0.1:9559", "tcp://pepper.local"),
        ["robot.url: invalid URL 'tcp://pepper.local' (expected tcp://host:port)"],
    ),
    (
        "wrong scheme",
        VALID.replace("tcp://127.0.0.1:9559", "http://pepper:9559"),
        ["robot.url: invalid URL 'http://pepper:9559'"],
    ),
    (
        "wrong type",
        VALID + '\n[supervisor]\nmax_restarts = "many"\n',
        ["supervisor.max_restarts: input should be a valid integer", "(got 'many')"],
    ),
    (
        "unknown key",
        VALID + 'colour = "blue"\n',
        [
            "robot.colour: unknown key (allowed: autonomous_life, backend, call_timeout, "
            "listening, stream_models, take_focus, url, zone_limits)"
        ],
    ),
    (
        "unknown section",
        VALID + '\n[robots]\nbackend = "sim"\n',
        [
            "robots: unknown key (allowed: alerts, beacons, behaviours, ble, chat, dialogue, "
            "displays, fleet, logging, mqtt, opening_hours, privacy, robot, scheduler, sim, "
            "site, supervisor, web)"
        ],
    ),
    (
        "missing required section",
        '[site]\nid = "x"\nname = "y"\n',
        ["robot: missing required section"],
    ),
    (
        "missing required key",
        '[site]\nname = "y"\n\n[robot]\n',
        ["site.id: missing required key"],
    ),
    (
        "unknown backend",
        VALID.replace('backend = "sim"', 'backend = "ros"'),
        ["robot.backend: input should be 'naoqi' or 'sim' (got 'ros')"],
    ),
    (
        "unknown time zone",
        VALID.replace('name = "Gemeentehuis"', 'name = "G"\ntimezone = "Europe/Aalter"'),
        ["site.timezone: unknown time zone 'Europe/Aalter'"],
    ),
    (
        "default language not offered",
        VALID.replace('name = "Gemeentehuis"', 'name = "G"\nlanguages = ["fr"]'),
        ["site.default_language: 'nl' is not in site.languages ['fr']"],
    ),
    (
        "section given as a value",
        VALID + 'sim = "yes"\n',
        ["robot.sim: unknown key"],
    ),
    (
        "not TOML at all",
        "this is not = = toml\n",
        ["line 1, column", "not valid TOML"],
    ),
    (
        "TOML error further down",
        VALID + "\n[sim]\nspeed = \n",
        ["line 10, column 9: not valid TOML"],
    ),
    ("empty file", "", ["site: missing required section", "robot: missing required section"]),
    (
        "MQTT port out of range",
        VALID + "\n[mqtt]\nport = 70000\n",
        ["mqtt.port: input should be less than or equal to 65535 (got 70000)"],
    ),
    (
        "MQTT secret variable not set",
        VALID + '\n[mqtt]\npassword_env = "ONTHAAL_TEST_UNSET_PASSWORD"\n',
        ["mqtt.password_env: environment variable 'ONTHAAL_TEST_UNSET_PASSWORD' is not set"],
    ),
    (
        "display without default content",
        VALID + '\n[[displays]]\nid = "hall-1"\ngroup = "hall"\n',
        ["displays.0.default: missing required key"],
    ),
    (
        "display id used twice",
        VALID
        + '\n[[displays]]\nid = "d"\ngroup = "hall"\ndefault.nl = { title = "A" }\n'
        + '\n[[displays]]\nid = "d"\ngroup = "hall"\ndefault.nl = { title = "B" }\n',
        ["displays: device id 'd' is used twice"],
    ),
    (
        "display content in an unknown language",
        VALID + '\n[[displays]]\nid = "d"\ngroup = "hall"\ndefault.es = { title = "Hola" }\n',
        ["displays.0.default.es"],
    ),
    (
        "url beacon without a url",
        VALID + '\n[[beacons]]\nid = "b1"\ngroup = "hall"\nmode = "url"\n',
        ["beacons.0: a beacon in 'url' mode needs a default url"],
    ),
    (
        "beacon address malformed",
        VALID + '\n[[beacons]]\nid = "b1"\ngroup = "hall"\nurl = "https://a.be"\n'
        'address = "aa:bb"\n',
        ["beacons.0.address: string should match pattern"],
    ),
    (
        "negative speed",
        VALID + "\n[sim]\nspeed = -2\n",
        ["sim.speed: input should be greater than 0 (got -2)"],
    ),
    # #20: configs check-config used to pass that run then crashed on or misread
    ("infinite speed", VALID + "\n[sim]\nspeed = inf\n", ["sim.speed: input should be a finite"]),
    (
        "ack timeout not a number",
        VALID + "\n[mqtt]\nack_timeout = nan\n",
        ["mqtt.ack_timeout: input should be a finite number"],
    ),
    (
        "back-off upside down",
        VALID + "\n[supervisor]\nbackoff_initial = 100\nbackoff_max = 30\n",
        ["supervisor: backoff_initial (100) is above backoff_max (30)"],
    ),
    (
        "battery thresholds upside down",
        VALID + "\n[behaviours]\nlow_battery = 90\nresume_battery = 60\n",
        ["behaviours: low_battery (90) must be below resume_battery (60)"],
    ),
    (
        "opening hours past midnight",
        VALID + '\n[opening_hours]\nfriday = ["08:00-24:30"]\n',
        ["invalid opening hours '08:00-24:30' (no such time of day)"],
    ),
    (
        "nested thousands deep",
        "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
        ["nested too deeply to be a config file"],
    ),
    (
        "inline tables thousands deep",
        "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
        ["nested too deeply to be a config file"],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_config_exits_2_naming_file_key_and_reason(
    case: str,
    text: str,
    expected: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "robot.toml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, f"{case}: {fragment!r} not in {err!r}"
    for line in err.strip().splitlines():
        assert line.startswith(f"{path}: "), f"every problem names the file: {line!r}"


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "robot.toml"
    path.write_text(VALID.replace("tcp://127.0.0.1:9559", "x") + "extra = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 2


def test_a_directory_instead_of_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory, not a config file" in capsys.readouterr().err


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["check-config", str(missing)]) == 2
    assert f"{missing}: file not found" in capsys.readouterr().err


def test_a_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "robot.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["check-config", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_run_and_sim_refuse_a_bad_config_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "robot.toml"
    path.write_text(VALID.replace("tcp://127.0.0.1:9559", "tcp//x"))
    for command in ("run", "sim"):
        assert main([command, "--config", str(path), "--duration", "1"]) == 2
        assert "robot.url: invalid URL" in capsys.readouterr().err


def test_a_real_robot_with_a_loopback_tablet_address_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#18: on a real Pepper the tablet is another device; loopback there is the tablet."""
    path = tmp_path / "robot.toml"
    real = VALID.replace('backend = "sim"', 'backend = "naoqi"')
    path.write_text(real)  # no [web] public_url: the tablet would get http://127.0.0.1:8080
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: web.public_url (not set, so [web] host and port)" in err
    assert "'http://127.0.0.1:8080/tablet'" in err and "separate device" in err
    path.write_text(real + '\n[web]\npublic_url = "http://localhost:8080"\n')
    assert main(["check-config", str(path)]) == 2
    assert f"{path}: web.public_url: the tablet would load" in capsys.readouterr().err
    path.write_text(real + '\n[web]\npublic_url = "not an address"\n')
    assert main(["check-config", str(path)]) == 2
    assert "web.public_url: 'not an address' is not an http(s) address" in capsys.readouterr().err
    on_network = '\n[web]\nhost = "0.0.0.0"\npublic_url = "http://192.0.2.10:8080/"\n'
    path.write_text(real + on_network)  # #19: plain HTTP to the network, not allowed
    assert main(["check-config", str(path)]) == 2
    assert "web.host: '0.0.0.0' serves the staff sign-in" in capsys.readouterr().err
    path.write_text(real + on_network + "allow_plain_http = true\n")  # a closed network
    config = load_config(path)
    assert config.tablet_address() == "http://192.0.2.10:8080/tablet"
    tls = '\n[web]\nhost = "0.0.0.0"\npublic_url = "https://onthaal.example.be"\n'
    path.write_text(real + tls)
    assert load_config(path).tablet_address() == "https://onthaal.example.be/tablet"
    # The simulator on one machine: the address follows the web port (--web-port too).
    assert load_config(REPO / "robot.toml").tablet_address() == "http://127.0.0.1:8080/tablet"


def test_a_broken_tablet_file_is_refused_naming_file_key_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#18: the tablet's content is the municipality's data: every problem, by key."""
    folder = tmp_path / "tablet"
    shutil.copytree(REPO / "content" / "tablet", folder)
    pages = folder / "tablet.toml"
    text = pages.read_text(encoding="utf-8")
    text = text.replace('topics = ["passport"', 'topics = ["nope", "passport"')
    text = text.replace('picture = "plans/first-floor.svg"', 'picture = "../../etc/passwd.svg"')
    text = text.replace("[desks.toiletten]", "[desks.kelder]", 1)
    pages.write_text(text.replace('send = "Vraag"\n', ""), encoding="utf-8")
    path = tmp_path / "robot.toml"
    path.write_text(
        VALID
        + f'\n[dialogue]\nknowledge_base = "{REPO / "content" / "kb"}"\n'
        + f'\n[behaviours]\ntexts = "{REPO / "content" / "behaviours.toml"}"\n'
        + f'tablet_pages = "{pages}"\n'
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    where = f"[behaviours] tablet_pages: {pages}"
    assert f"{where}: topics: 'nope' is not an intent of the knowledge base" in err
    assert f"{where}: plans.first.picture: '../../etc/passwd.svg' is outside" in err
    assert f"{where}: desks.kelder: not a desk of the knowledge base" in err
    assert f"{where}: words.nl: missing send" in err
    assert "Traceback" not in err


def test_check_config_warns_about_what_is_allowed_but_exposed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#19: an embedded broker on the network, plain HTTP on a closed network: ok, warned."""
    path = isolated_config(
        tmp_path, mqtt__host='"0.0.0.0"', web__host='"0.0.0.0"', web__allow_plain_http="true"
    )
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok\n"
    assert f"{path}: warning: mqtt.host: the embedded broker listens on '0.0.0.0'" in captured.err
    assert f"{path}: warning: web.allow_plain_http" in captured.err


def test_an_embedded_mosquitto_that_is_not_installed_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """#19: `[mqtt] broker = "mosquitto"` on a machine without it says so at check-config."""
    import onthaal.config

    monkeypatch.setattr(onthaal.config, "mosquitto_executable", lambda: None)
    path = tmp_path / "robot.toml"
    path.write_text(VALID + '\n[mqtt]\nbroker = "mosquitto"\n')
    assert main(["check-config", str(path)]) == 2
    assert "mqtt.broker: mosquitto is not installed" in capsys.readouterr().err
    path.write_text(VALID + '\n[mqtt]\nbroker = "auto"\n')  # then amqtt, as before
    assert load_config(path).mqtt.broker == "auto"


def test_check_config_refuses_a_tls_ca_file_that_is_not_there_or_not_a_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#20: `tls.enabled` with a missing CA file passed, and the broker link failed later."""
    from tests.configs import isolated_config

    config = isolated_config(tmp_path, mqtt__tls='{ enabled = true, ca_file = "site-ca.pem" }')
    assert main(["check-config", str(config)]) == 2
    assert "[mqtt] tls.ca_file: " in capsys.readouterr().err
    (tmp_path / "site-ca.pem").write_text("not a certificate")
    assert main(["check-config", str(config)]) == 2
    assert "not a CA certificate in PEM" in capsys.readouterr().err
