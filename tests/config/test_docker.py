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
    assert re.search(r"^FROM python:3\.11\.", dockerfile, re.MULTILINE)
    assert re.search(r"^USER concord$", dockerfile, re.MULTILINE)
    assert "collectstatic --noinput" in dockerfile
    assert "requirements/base.txt" in dockerfile


def test_env_example_lists_what_production_requires():
    example = (ROOT / "docker" / ".env.example").read_text()
    for name in ("SECRET_KEY", "CONCORD_ENCRYPTION_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD"):
        assert re.search(rf"^{name}=", example, re.MULTILINE), name


def test_the_base_image_is_pinned_to_an_exact_release():
    # A floating tag (python:3.11-slim) gives each rebuild whatever was published last.
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    images = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert images, "no FROM line"
    for image in images:
        assert re.fullmatch(
            r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", image
        ), f"{image} is not pinned to a patch release and a Debian release"


def _requirements(path: Path) -> dict[str, str]:
    """Each requirement of a pip-compile output, with the text of its entry."""
    entries: dict[str, str] = {}
    name = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            name = re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].lower()
            entries[name] = line
        elif name is not None:
            entries[name] += "\n" + line
    return entries


def test_the_lock_files_pin_every_package_with_hashes():
    for lock in ("base.txt", "dev.txt"):
        entries = _requirements(ROOT / "requirements" / lock)
        assert len(entries) > 20, lock
        for name, entry in entries.items():
            assert re.match(rf"{re.escape(name)}==\S+ \\$", entry.splitlines()[0], re.I), (
                f"{lock}: {name} is not pinned exactly"
            )
            assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{lock}: {name} has no hash"
    base = _requirements(ROOT / "requirements" / "base.txt")
    dev = _requirements(ROOT / "requirements" / "dev.txt")
    for name, entry in base.items():  # dev.txt installs the same versions as base.txt
        assert dev[name].splitlines()[0] == entry.splitlines()[0], name


def test_installs_check_hashes_and_the_lock_target_writes_them():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements/base.txt" in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    for lock in ("base", "dev"):
        assert f"pip install --quiet --require-hashes -r requirements/{lock}.txt" in makefile
    compiles = [line for line in makefile.splitlines() if "pip-compile" in line and "-o" in line]
    assert len(compiles) == 2
    assert all("--generate-hashes" in line for line in compiles)
