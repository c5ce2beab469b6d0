"""Where the sync builder keeps its drafts between requests: the user's session.

Each draft has an id of its own, so two tabs can build two syncs at once; a draft belongs
to the workspace it was started in (another workspace's draft is not found). A session
keeps the few most recent drafts; older ones are dropped.
"""

from __future__ import annotations

import time
import uuid

from django.http import Http404, HttpRequest

from apps.syncs.drafts import Draft

SESSION_KEY = "sync_drafts"
MAX_DRAFTS = 8


def _drafts(request: HttpRequest) -> dict:
    return request.session.setdefault(SESSION_KEY, {})


def draft_put(request: HttpRequest, draft: Draft, draft_id: str | None = None) -> str:
    """Store the draft (a new one gets an id); returns its id."""
    drafts = _drafts(request)
    draft_id = draft_id or uuid.uuid4().hex
    drafts[draft_id] = {"workspace": request.workspace.pk, "at": time.time(), "draft": draft}
    for old in sorted(drafts, key=lambda k: drafts[k]["at"])[:-MAX_DRAFTS]:
        del drafts[old]
    request.session.modified = True
    return draft_id


def draft_get(request: HttpRequest, draft_id: str) -> Draft:
    """The draft, or 404 when the session has no such draft for this workspace (it was
    saved, dropped for newer ones, or the session ended)."""
    entry = _drafts(request).get(draft_id)
    if entry is None or entry["workspace"] != request.workspace.pk:
        raise Http404("this sync draft is gone (saved, or the session ended): start again")
    return entry["draft"]


def draft_drop(request: HttpRequest, draft_id: str) -> None:
    if _drafts(request).pop(draft_id, None) is not None:
        request.session.modified = True
