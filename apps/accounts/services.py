"""Writes for accounts: sign-up, workspaces, memberships, API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import ApiToken, Membership, Role, Workspace

TOKEN_PREFIX = "cnc_"  # noqa: S105 - a public marker, not a secret


class AccountError(Exception):
    """A request about accounts that cannot be carried out; the message says why."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: AbstractBaseUser) -> Workspace:
    name = name.strip()
    if not name:
        raise AccountError("a workspace needs a name")
    for _ in range(5):
        try:
            with transaction.atomic():
                workspace = Workspace.objects.create(name=name, slug=_unique_slug(name))
            break
        except IntegrityError:  # a concurrent sign-up took the slug; pick the next one
            continue
    else:
        raise AccountError("could not find a free workspace slug; try another name")
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    return workspace


@transaction.atomic
def user_signup(*, email: str, password: str, workspace_name: str) -> tuple[object, Workspace]:
    """Create a user (username = email) and a workspace they own."""
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email.strip()).lower()
    if user_model.objects.filter(username__iexact=email).exists():
        raise AccountError("an account with this email already exists")
    user = user_model.objects.create_user(username=email, email=email, password=password)
    workspace = workspace_create(name=workspace_name, owner=user)
    return user, workspace


def membership_set(*, workspace: Workspace, user: AbstractBaseUser, role: Role) -> Membership:
    """Add a member or change a member's role; the last owner cannot be demoted."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
        )
        if membership and membership.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(workspace, membership)
        if membership is None:
            return Membership.objects.create(workspace=workspace, user=user, role=role)
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        return membership


def membership_remove(*, membership: Membership) -> None:
    with transaction.atomic():
        if membership.role == Role.OWNER:
            _ensure_another_owner(membership.workspace, membership)
        membership.delete()


def _ensure_another_owner(workspace: Workspace, membership: Membership) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise AccountError("a workspace keeps at least one owner")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, workspace: Workspace, user: AbstractBaseUser, name: str
) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    if not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise AccountError("only members of a workspace can hold its tokens")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        workspace=workspace,
        user=user,
        name=name.strip() or "API token",
        prefix=raw[:12],
        digest=_digest(raw),
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The live token for a raw value, or None. Marks it used (at most once a minute)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("workspace", "user")
        .filter(digest=_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
