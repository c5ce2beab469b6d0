"""Template helpers of the conflict review screen: a field value as a person reads it, and
the open conflicts' count for the navigation's badge."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.safestring import mark_safe

from apps.syncs.models import Conflict

register = template.Library()

OPEN = (Conflict.Status.OPEN, Conflict.Status.DECIDED)


@register.filter
def shown(value: Any) -> str:
    """A field's value for reading: "empty" for nothing, yes/no, lists joined."""
    if value is None or value == "" or value == []:
        return mark_safe('<span class="muted">empty</span>')
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


POLICY_WORDS = {"prefer_a": "prefer A", "prefer_b": "prefer B", "newest": "the newest change wins"}


@register.filter
def policy_words(policy: str) -> str:
    return POLICY_WORDS.get(policy, policy.replace("_", " "))


@register.simple_tag(takes_context=True)
def open_conflict_count(context: template.Context) -> int:
    """Open and pending conflicts of the request's workspace (one COUNT per page)."""
    request = context.get("request")
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return 0
    cached = getattr(request, "_open_conflicts", None)
    if cached is None:
        cached = Conflict.objects.for_workspace(workspace).filter(status__in=OPEN).count()
        request._open_conflicts = cached
    return cached
