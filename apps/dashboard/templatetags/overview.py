"""Short durations for the overview: "12 s ago", "every 5 min"."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


def _short(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes and hours < 3 else f"{hours} h"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''}"


@register.filter
def ago(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago `when` was, to the second under a minute: "12 s ago", "3 min ago"."""
    if when is None:
        return ""
    seconds = max(0, int(((now or timezone.now()) - when).total_seconds()))
    return f"{_short(seconds)} ago"


@register.filter
def every(seconds: int) -> str:
    """An interval in words: "every 30 s", "every 5 min", "every 2 h"."""
    return f"every {_short(int(seconds))}"
