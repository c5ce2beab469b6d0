"""Template filters for lengths of time, as the run pages say them."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as people read a run's length: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min";
    "" for None."""
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago `moment` was: "just now" under 5 s, else like "12 s ago", "3 min ago"."""
    if moment is None:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    words = duration(seconds).split(" ")
    return " ".join(words[:2]) + " ago"  # "3 min", "2 h": the largest unit is enough
