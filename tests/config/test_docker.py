"""No Docker engine runs here, so the Docker files are checked as data against the Procfile."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, list[str]]:
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            role, command = line.split(":", 1)
            commands[role.strip()] = shlex.split(command)
    return commands


def without_bind(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--bind":
            skip = True
            continue
        out.append(arg)
    return out


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def test_compose_names_the_services_with_health_checks():
    services = compose()["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, name
    for role in ("web", "worker", "beat"):
        env = services[role]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert services[role]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_worker_and_beat_run_the_procfile_commands():
    services, proc = compose()["services"], procfile()
    assert services["worker"]["command"] == proc["worker"]
    assert services["beat"]["command"] == proc["beat"]


def test_web_runs_the_procfile_gunicorn_command():
    proc_web = without_bind(procfile()["web"])
    shell = compose()["services"]["web"]["command"]
    assert shell[:2] == ["sh", "-c"]
    exec_part = shell[2].split("exec ", 1)[1]
    assert without_bind(shlex.split(exec_part)) == proc_web

    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))
    assert without_bind(cmd) == proc_web


def test_dockerfile_runs_as_non_root_with_static_files_collected():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert re.search(r"^USER concord$", dockerfile, re.MULTILINE)
    assert "collectstatic --noinput" in dockerfile
    assert "requirements/base.txt" in dockerfile


def test_env_example_lists_what_production_requires():
    example = (ROOT / "docker" / ".env.example").read_text()
    for name in ("SECRET_KEY", "CONCORD_ENCRYPTION_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD"):
        assert re.search(rf"^{name}=", example, re.MULTILINE), name
