"""The Dockerfile and docker-compose.yml are valid and say what the README promises.

PyYAML is not a dependency, so the compose file is read with a small parser for the YAML subset it
uses (block mappings and lists, flow lists, quoted and plain scalars, comments; no anchors). When
PyYAML happens to be installed, both parsers must agree.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.config import Settings
from sandbox.demo.environment import isolated_settings

ROOT = Path(__file__).resolve().parents[2]

DOCKERFILE_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


# -- a minimal YAML reader --------------------------------------------------------------------------
def _scalar(text: str) -> Any:
    text = text.strip()
    if not text or text == "~" or text == "null":
        return None
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part) for part in _split_flow(inner)] if inner else []
    if text[0] in "\"'":
        assert text[-1] == text[0], f"unterminated string {text!r}"
        return json.loads(text) if text[0] == '"' else text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    assert not text.startswith(("&", "*", "|", ">", "{")), f"unsupported YAML: {text!r}"
    return text


def _split_flow(text: str) -> list[str]:
    parts, current, quote = [], "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ",":
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current]


def _strip_comment(line: str) -> str:
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index].rstrip()
    return line.rstrip()


def parse_yaml(text: str) -> Any:
    lines = [(len(raw) - len(raw.lstrip(" ")), raw.strip()) for raw in map(_strip_comment, text.splitlines())]
    lines = [(indent, content) for indent, content in lines if content]
    assert all("\t" not in content for _, content in lines)

    def block(start: int, indent: int) -> tuple[Any, int]:
        if lines[start][1].startswith("- "):
            items: list[Any] = []
            index = start
            while index < len(lines) and lines[index][0] == indent and lines[index][1].startswith("- "):
                items.append(_scalar(lines[index][1][2:]))
                index += 1
            return items, index
        mapping: dict[str, Any] = {}
        index = start
        while index < len(lines) and lines[index][0] == indent:
            key, sep, rest = lines[index][1].partition(":")
            assert sep and not key.startswith("- "), f"not a mapping entry: {lines[index][1]!r}"
            assert key not in mapping, f"duplicate key {key!r}"
            index += 1
            if rest.strip():
                mapping[key] = _scalar(rest)
            elif index < len(lines) and lines[index][0] > indent:
                mapping[key], index = block(index, lines[index][0])
            elif index < len(lines) and lines[index][0] == indent and lines[index][1].startswith("- "):
                mapping[key], index = block(index, indent)  # a list at the key's own indentation
            else:
                mapping[key] = None
        return mapping, index

    document, end = block(0, lines[0][0])
    assert end == len(lines), f"unparsed YAML from line {lines[end]}"
    return document


def test_minimal_yaml_reader() -> None:
    text = 'a: 1\nb:\n  - x\n  - "y # not a comment"\nc: [one, "two"]  # comment\nd:\n  e: true\n  f:\n'
    assert parse_yaml(text) == {
        "a": 1,
        "b": ["x", "y # not a comment"],
        "c": ["one", "two"],
        "d": {"e": True, "f": None},
    }


# -- docker-compose.yml -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text()
    document = parse_yaml(text)
    try:
        import yaml
    except ImportError:
        pass
    else:
        assert yaml.safe_load(text) == document
    return document


def test_compose_bot_alone_on_sqlite(compose: dict[str, Any]) -> None:
    services = compose["services"]
    started_by_default = sorted(name for name, service in services.items() if not service.get("profiles"))
    assert started_by_default == ["bot"]
    bot = services["bot"]
    assert bot["build"] == "."
    assert bot["env_file"] == ".env"
    assert "bot-data:/data" in bot["volumes"]
    # DATABASE_URL in .env is not silently replaced; without one the image's default is SQLite on
    # the volume.
    assert "DATABASE_URL" not in (bot.get("environment") or {})
    image_env = dict(
        item.split("=", 1)
        for keyword, arguments in final_stage()
        if keyword == "ENV"
        for item in shlex.split(arguments)
    )
    assert _settings(DATABASE_URL=image_env["DATABASE_URL"]).sqlite_path() == Path("/data/smmbot.sqlite3")


def _required(value: str) -> tuple[str, str]:
    """Compose's ${NAME:?message}: (the value with NAME set to a placeholder, NAME)."""
    match = re.search(r"\$\{([A-Z_]+):\?[^}]+\}", value)
    assert match, f"{value!r} has no required variable"
    return value.replace(match.group(0), f"<{match.group(1)}>"), match.group(1)


def test_compose_scale_profile_is_webhook_instances_behind_caddy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {name for name, s in services.items() if "scale" in (s.get("profiles") or [])} == {
        "bot-scale",
        "caddy",
        "postgres",
        "redis",
    }
    bot = services["bot-scale"]
    assert bot["env_file"] == ".env"
    assert bot["deploy"]["replicas"] >= 2  # N identical instances
    environment = dict(bot["environment"])
    database_url, needed = _required(environment.pop("DATABASE_URL"))
    assert needed == "POSTGRES_PASSWORD"
    webhook_url, domain = _required(environment.pop("WEBHOOK_URL"))
    assert domain == "SHOP_DOMAIN" and webhook_url.startswith("https://<SHOP_DOMAIN>/")
    settings = _settings(DATABASE_URL=database_url, WEBHOOK_URL=webhook_url, **environment)
    assert settings.database_url.startswith("postgresql+asyncpg://smmbot:<POSTGRES_PASSWORD>@postgres:5432/")
    assert settings.redis_url == "redis://redis:6379/0"
    assert (
        settings.webhook_enabled and settings.webhook_url == f"https://<SHOP_DOMAIN>{settings.webhook_path}"
    )
    assert str(settings.webhook_port) in bot["expose"]
    assert bot["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    postgres_env = services["postgres"]["environment"]
    assert f"{postgres_env['POSTGRES_USER']}:" in settings.database_url
    assert settings.database_url.rsplit("/", 1)[1] == postgres_env["POSTGRES_DB"]
    # Only Caddy is published, on HTTPS (and 80 for the certificate challenge and the redirect).
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"caddy": ["80:80", "443:443"]}


def test_caddy_serves_the_webhook_path_of_every_instance(compose: dict[str, Any]) -> None:
    caddy = compose["services"]["caddy"]
    mount = next(m for m in caddy["volumes"] if m.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (ROOT / mount.split(":", 1)[0]).read_text()
    site = re.search(r"^\{\$SHOP_DOMAIN\} \{", caddyfile, re.MULTILINE)
    assert site, "Caddy serves the site named by SHOP_DOMAIN (automatic HTTPS)"
    assert _required(caddy["environment"]["SHOP_DOMAIN"])[1] == "SHOP_DOMAIN"
    settings = _settings()
    assert settings.webhook_path in caddyfile and settings.crypto_pay_webhook_path in caddyfile
    assert re.search(r"dynamic a \{\s*name bot-scale\s*port 8080", caddyfile)
    assert "lb_policy round_robin" in caddyfile and "lb_try_duration" in caddyfile


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert match and value, f"unsupported duration {value!r}"
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_compose_stops_bots_gracefully_and_rotates_logs(compose: dict[str, Any]) -> None:
    from bot.webhook import SHUTDOWN_TIMEOUT

    for name, service in compose["services"].items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"] and int(logging["options"]["max-file"]) >= 2, name
    for name in ("bot", "bot-scale", "caddy"):
        # Docker's default is 10 s: SIGKILL would cut the drain of in-flight updates short.
        assert _seconds(compose["services"][name]["stop_grace_period"]) > SHUTDOWN_TIMEOUT, name


def test_compose_and_env_example_ship_no_password() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"POSTGRES_PASSWORD:-", text) is None  # no weak fallback
    assert "${POSTGRES_PASSWORD:?" in text
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert example["POSTGRES_PASSWORD"] == ""
    assert example["SHOP_DOMAIN"] == ""


def test_compose_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = {
        mount.split(":", 1)[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
        if not mount.startswith((".", "/"))
    }
    assert used == declared
    text = (ROOT / "docker-compose.yml").read_text()
    assert "BOT_TOKEN" not in text and "PANEL_API_KEY" not in text  # secrets come from .env only


def _settings(**environment: str) -> Settings:
    return isolated_settings(
        bot_token="1:x",
        panel_api_url="https://panel.example/api/v2",
        panel_api_key="k",
        **{name.lower(): value for name, value in environment.items()},
    )


# -- Dockerfile -------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    logical: list[str] = []
    current = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # comments inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    result = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_instructions_are_known_and_start_with_from() -> None:
    instructions = dockerfile_instructions()
    unknown = [keyword for keyword, _ in instructions if keyword not in DOCKERFILE_INSTRUCTIONS]
    assert unknown == []
    assert next(keyword for keyword, _ in instructions if keyword != "ARG") == "FROM"
    assert all("slim" in args or "alpine" in args for keyword, args in instructions if keyword == "FROM")


def test_dockerfile_final_stage_runs_as_a_user_with_volume_healthcheck_and_cmd() -> None:
    stage = final_stage()
    keywords = [keyword for keyword, _ in stage]
    for required in ("USER", "VOLUME", "HEALTHCHECK", "CMD"):
        assert required in keywords, f"{required} missing in the final stage"
    user = [args for keyword, args in stage if keyword == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert keywords.index("USER") < keywords.index("CMD")
    volume = [args for keyword, args in stage if keyword == "VOLUME"][-1]
    assert "/data" in json.loads(volume)
    env = " ".join(args for keyword, args in stage if keyword == "ENV")
    assert "DATABASE_URL=sqlite+aiosqlite:////data/" in env  # the database lives on the volume

    cmd = json.loads([args for keyword, args in stage if keyword == "CMD"][-1])
    assert cmd == ["smmbot", "run"]
    healthcheck = [args for keyword, args in stage if keyword == "HEALTHCHECK"][-1]
    options, _, command = healthcheck.partition("CMD")
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)
    argv = json.loads(command) if command.strip().startswith("[") else shlex.split(command)
    assert argv[0] == "smmbot"
    parsed = build_parser().parse_args(argv[1:])  # a command our CLI really has
    assert parsed.command == "check" and parsed.offline is True


def test_dockerfile_copies_only_what_exists() -> None:
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        parts = [
            part
            for part in (json.loads(args) if args.startswith("[") else args.split())
            if not part.startswith("--")
        ]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY source {source} is not in the repository"


def test_dockerignore_keeps_secrets_and_the_venv_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored
