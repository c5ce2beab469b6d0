"""Writes for accounts: sign-up, workspaces, memberships, API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import ApiToken, Membership, Permission, Role, Workspace
from apps.core.errors import Forbidden, Invalid, Refused

TOKEN_PREFIX = "cnc_"  # noqa: S105 - a public marker, not a secret


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: AbstractBaseUser) -> Workspace:
    """A workspace owned by `owner`. Raises Invalid (`name`) for an empty name."""
    name = name.strip()
    if not name:
        raise Invalid("a workspace needs a name", field="name")
    for _ in range(5):
        try:
            with transaction.atomic():
                workspace = Workspace.objects.create(name=name, slug=_unique_slug(name))
            break
        except IntegrityError:  # a concurrent sign-up took the slug; pick the next one
            continue
    else:
        raise Invalid("could not find a free workspace address; try another name", field="name")
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    return workspace


@transaction.atomic
def user_signup(*, email: str, password: str, workspace_name: str) -> tuple[object, Workspace]:
    """Create a user (username = email) and a workspace they own.

    Raises Invalid naming `email` (taken) or `workspace_name`.
    """
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email.strip()).lower()
    if user_model.objects.filter(username__iexact=email).exists():
        raise Invalid("an account with this email already exists", field="email")
    user = user_model.objects.create_user(username=email, email=email, password=password)
    try:
        workspace = workspace_create(name=workspace_name, owner=user)
    except Invalid as exc:
        raise Invalid(exc.message, code=exc.code, field="workspace_name") from None
    return user, workspace


def _check_may_manage(actor: Membership | None, workspace: Workspace, *roles: str | None) -> None:
    """The one rule for managing members, for the API and the dashboard alike: admins and
    owners manage members, and only owners make, change or remove owners. `roles` are the
    member's role before and after the change. `actor` None is the system itself (a
    management command), which no role limits.

    Raises Forbidden (`permission_denied`, or `owner_required` when an owner is concerned).
    """
    if actor is None:
        return
    if actor.workspace_id != workspace.pk or not actor.allows(Permission.ADMIN):
        raise Forbidden("only admins and owners manage members", code="permission_denied")
    if Role.OWNER in roles and not actor.allows(Permission.OWN):
        raise Forbidden("only owners can make, change or remove owners", code="owner_required")


def member_add(
    *, workspace: Workspace, email: str, role: Role, actor: Membership | None
) -> Membership:
    """Add the account with this email to the workspace, as `actor` (see _check_may_manage).

    Raises Forbidden for a role that may not, and Invalid (`email`) when no account uses the
    email or it is a member already.
    """
    _check_may_manage(actor, workspace, role)
    email = email.strip().lower()
    user = get_user_model().objects.filter(username__iexact=email).first()
    if user is None:
        raise Invalid("no account uses this email; they need to sign up first", field="email")
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise Invalid("already a member; change their role instead", field="email")
    try:
        with transaction.atomic():
            return Membership.objects.create(workspace=workspace, user=user, role=role)
    except IntegrityError:  # added concurrently
        raise Invalid("already a member", field="email") from None


def member_set_by_email(
    *, workspace: Workspace, email: str, role: Role, actor: Membership | None
) -> Membership:
    """Give the account with this email `role` in the workspace, adding it when it is not
    a member. Raises Invalid (`email`) when no account uses the email, and otherwise what
    membership_set raises."""
    _check_may_manage(actor, workspace, role)
    user = get_user_model().objects.filter(username__iexact=email.strip().lower()).first()
    if user is None:
        raise Invalid(
            f"no account uses {email.strip().lower()}; ask them to sign up first", field="email"
        )
    return membership_set(workspace=workspace, user=user, role=role, actor=actor)


def membership_set(
    *, workspace: Workspace, user: AbstractBaseUser, role: Role, actor: Membership | None
) -> Membership:
    """Add a member or change a member's role, as `actor`. Raises Forbidden
    (`owner_required`) when an admin makes or demotes an owner, and Refused
    (`membership_refused`) for the last owner's demotion."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
        )
        _check_may_manage(actor, workspace, membership.role if membership else None, role)
        if membership and membership.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(workspace, membership)
        if membership is None:
            return Membership.objects.create(workspace=workspace, user=user, role=role)
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        return membership


def membership_remove(*, membership: Membership, actor: Membership | None) -> None:
    """Remove a member, as `actor`. Raises Forbidden (`owner_required`) when an admin
    removes an owner, and Refused (`membership_refused`) for the last owner."""
    with transaction.atomic():
        # The role as it is now, not as it was when the caller read it.
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            return
        _check_may_manage(actor, current.workspace, current.role)
        if current.role == Role.OWNER:
            _ensure_another_owner(current.workspace, current)
        current.delete()


def _ensure_another_owner(workspace: Workspace, membership: Membership) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise Refused("a workspace keeps at least one owner", code="membership_refused")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, workspace: Workspace, user: AbstractBaseUser, name: str
) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored. Raises Refused
    (`token_refused`) for a user who is not a member."""
    if not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise Refused("only members of a workspace can hold its tokens", code="token_refused")
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
