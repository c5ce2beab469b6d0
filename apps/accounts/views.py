"""Sign-up, workspace switching and the workspace settings page (members, API tokens)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import ApiTokenForm, MemberForm, SignupForm
from apps.accounts.middleware import SESSION_KEY
from apps.accounts.models import ApiToken, Membership, Permission, Role
from apps.accounts.scoping import has_permission, workspace_required
from apps.core.errors import DomainError
from apps.core.forms import form_error_add


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, workspace = services.user_signup(**form.cleaned_data)
        except DomainError as exc:
            form_error_add(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_KEY] = workspace.pk
            return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form})


@require_POST
@workspace_required()
def workspace_switch(request: HttpRequest) -> HttpResponse:
    membership = get_object_or_404(
        selectors.memberships_for_user(request.user), workspace_id=request.POST.get("workspace")
    )
    request.session[SESSION_KEY] = membership.workspace_id
    return redirect("dashboard")


@workspace_required()
def workspace_settings(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    token_form = ApiTokenForm(prefix="token")
    member_form = MemberForm(prefix="member")
    new_token = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "token-create":
            token_form = ApiTokenForm(request.POST, prefix="token")
            if token_form.is_valid():
                _, new_token = services.api_token_create(
                    workspace=workspace, user=request.user, name=token_form.cleaned_data["name"]
                )
        elif action == "token-revoke":
            token = get_object_or_404(
                ApiToken, pk=request.POST.get("token"), workspace=workspace, user=request.user
            )
            services.api_token_revoke(token=token)
            messages.success(request, f"Revoked {token}.")
            return redirect("accounts:workspace")
        elif action in ("member-set", "member-remove"):
            if not has_permission(request, Permission.ADMIN):
                return HttpResponse("Only admins and owners manage members.", status=403)
            return _member_action(request, action)
    return render(
        request,
        "accounts/workspace.html",
        {
            "members": selectors.workspace_members(workspace),
            "tokens": selectors.workspace_tokens(workspace, request.user),
            "token_form": token_form,
            "member_form": member_form,
            "new_token": new_token,
            "can_admin": has_permission(request, Permission.ADMIN),
        },
    )


def _member_action(request: HttpRequest, action: str) -> HttpResponse:
    workspace = request.workspace
    try:
        if action == "member-remove":
            membership = get_object_or_404(
                Membership, pk=request.POST.get("membership"), workspace=workspace
            )
            services.membership_remove(membership=membership, actor=request.membership)
            messages.success(request, f"Removed {membership.user}.")
        else:
            form = MemberForm(request.POST, prefix="member")
            if not form.is_valid():
                messages.error(request, "Enter an email and a role.")
                return redirect("accounts:workspace")
            email = form.cleaned_data["email"].lower()
            # Who may change whom is the service's rule (the API asks the same one).
            services.member_set_by_email(
                workspace=workspace,
                email=email,
                role=Role(form.cleaned_data["role"]),
                actor=request.membership,
            )
            messages.success(request, f"{email} is now {form.cleaned_data['role']}.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("accounts:workspace")
