"""Start-up fails loudly, naming the variable, on missing or malformed configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "b2Nqp5L-DhcQ3y4o8n1x0aJ2m8Zb9H6dC4eU7fW1kTs="  # a valid Fernet key, test only


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh interpreter with exactly this environment."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update(
        {"CONCORD_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "apps.config.settings"}
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_mode_generates_and_keeps_keys(tmp_path):
    first = start(tmp_path, CONCORD_MODE="development")
    assert first.returncode == 0, first.stderr
    secret = (tmp_path / "var" / "secret_key").read_text()
    fernet = (tmp_path / "var" / "encryption_key").read_text()
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"
    second = start(tmp_path, CONCORD_MODE="development")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "var" / "secret_key").read_text() == secret
    assert (tmp_path / "var" / "encryption_key").read_text() == fernet


def test_production_names_every_missing_variable(tmp_path):
    result = start(tmp_path, CONCORD_MODE="production")
    assert result.returncode != 0
    assert "SECRET_KEY, CONCORD_ENCRYPTION_KEY, ALLOWED_HOSTS" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_names_the_one_missing_variable(tmp_path):
    result = start(
        tmp_path, CONCORD_MODE="production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="sync.example.com"
    )
    assert result.returncode != 0
    assert (
        "production mode needs these environment variables: CONCORD_ENCRYPTION_KEY" in result.stderr
    )


def test_production_starts_with_everything_set(tmp_path):
    result = start(
        tmp_path,
        CONCORD_MODE="production",
        SECRET_KEY="x" * 50,
        CONCORD_ENCRYPTION_KEY=GOOD_KEY,
        ALLOWED_HOSTS="sync.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "nosuchdb://host/name"),
        ("CELERY_TASK_TIME_LIMIT", "ten minutes"),
        ("DEBUG", "perhaps"),
        ("CONCORD_MODE", "staging"),
        ("CONCORD_CONNECTION_RATE_WINDOW", "fast"),
        ("REDIS_URL", "localhost:6379"),
    ],
)
def test_a_bad_value_stops_startup_naming_the_variable(tmp_path, name, value):
    result = start(tmp_path, **{name: value})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ConfigError" in last_line or "ImproperlyConfigured" in last_line
    assert name in last_line


def test_a_bad_encryption_key_is_refused_when_used(tmp_path):
    code = "import django; django.setup();from apps.core import crypto; crypto.encrypt('x')"
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    base.update(
        CONCORD_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="apps.config.settings",
        CONCORD_ENCRYPTION_KEY="too-short",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "CONCORD_ENCRYPTION_KEY must be comma-separated Fernet keys" in result.stderr


def beat_entry(tmp_path: Path, **env: str) -> str:
    """The demo activity's beat entry under this environment, as the settings print it."""
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CELERY_BEAT_SCHEDULE.get('demo-activity'))"
    )
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update(
        CONCORD_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="apps.config.settings"
    )
    base.update(env)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_demo_activity_ticks_in_development_unless_switched_off(tmp_path):
    assert beat_entry(tmp_path) == ("{'task': 'dashboard.demo_activity', 'schedule': 5.0}")
    assert beat_entry(tmp_path, CONCORD_DEMO_ACTIVITY_EVERY="2") == (
        "{'task': 'dashboard.demo_activity', 'schedule': 2.0}"
    )
    assert beat_entry(tmp_path, CONCORD_DEMO_ACTIVITY="false") == "None"


def test_the_demo_activity_is_refused_in_production_and_too_fast(tmp_path):
    production = {
        "CONCORD_MODE": "production",
        "SECRET_KEY": "x" * 50,
        "CONCORD_ENCRYPTION_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": "sync.example.com",
    }
    assert start(tmp_path, **production).returncode == 0
    refused = start(tmp_path, **production, CONCORD_DEMO_ACTIVITY="true")
    assert refused.returncode != 0
    assert "CONCORD_DEMO_ACTIVITY edits the demo's sandboxes" in refused.stderr
    too_fast = start(tmp_path, CONCORD_DEMO_ACTIVITY_EVERY="0.1")
    assert too_fast.returncode != 0
    assert "CONCORD_DEMO_ACTIVITY_EVERY must be at least 1" in too_fast.stderr
