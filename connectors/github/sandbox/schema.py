"""What the GitHub sandbox's account holds: repositories, users, labels, milestones, issue
types and tokens, fixed (issues are the state; see state.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

# Tokens: a fine-grained personal access token with Issues read and write, one with Issues
# read only, one with Metadata only (no Issues permission), and an App installation token.
SANDBOX_TOKEN = "github_pat_11SANDBOX0concord0sandbox0token"  # noqa: S105 - sandbox credential
READ_ONLY_TOKEN = "github_pat_11SANDBOX0issues0read0only"  # noqa: S105 - sandbox credential
METADATA_TOKEN = "github_pat_11SANDBOX0metadata0only"  # noqa: S105 - sandbox credential
INSTALLATION_TOKEN = "ghs_SANDBOXinstallation0token"  # noqa: S105 - sandbox credential
TOKENS = {
    SANDBOX_TOKEN: "write",
    INSTALLATION_TOKEN: "write",
    READ_ONLY_TOKEN: "read",
    METADATA_TOKEN: "metadata",
}
WEB = "https://github.com"
# A GitHub App installed on octo-org: its private key is made when first asked for (per
# process; tests reach the sandbox in their own process), never stored.
APP_ID = "1062785"
INSTALLATION_ID = "58402190"
INSTALLATION_TOKEN_LIFETIME = 3600.0


@cache
def app_private_key() -> str:
    """The sandbox App's RSA private key, PEM (PKCS#1, as GitHub hands them out)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class User:
    id: int
    login: str
    kind: str = "User"  # "User", "Organization" or "Bot"


@dataclass(frozen=True)
class Repo:
    id: int
    owner: User
    name: str
    labels: tuple[tuple[str, str, str], ...]  # (name, color, description)
    milestones: tuple[str, ...]
    assignable: tuple[str, ...]  # logins
    has_issues: bool = True
    archived: bool = False
    private: bool = False
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    @property
    def org(self) -> bool:
        return self.owner.kind == "Organization"


ME = User(583231, "concord-bot")
ORG = User(9919, "octo-org", "Organization")
MONA = User(1001, "mona")
USERS = {
    u.login: u
    for u in (
        ME,
        MONA,
        User(1002, "hubot"),
        User(1003, "octocat"),
        User(1004, "lena-dev"),
        User(1005, "sam-ops"),
    )
}
_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)
REPOS = {
    r.full_name.casefold(): r
    for r in (
        Repo(
            1296269,
            ORG,
            "website",
            (*_LABELS, ("customer-report", "fbca04", "Reported by a customer")),
            ("v1.0", "v1.1", "Backlog"),
            ("concord-bot", "mona", "hubot", "octocat"),
            description="The public website",
        ),
        Repo(
            1296270,
            ORG,
            "api",
            (*_LABELS, ("breaking", "b60205", "Breaks the public API")),
            ("v2.0",),
            ("concord-bot", "lena-dev", "sam-ops"),
            description="The public API",
        ),
        Repo(1296271, MONA, "notes", _LABELS, (), ("mona",), description="Mona's notes"),
        Repo(1296272, MONA, "dotfiles", _LABELS, (), ("mona",), has_issues=False),
        Repo(1296273, ORG, "legacy", _LABELS, (), ("concord-bot",), archived=True),
    )
}
# Issue types are an organization's (Settings, Planning, Issue types).
ISSUE_TYPES = (
    (21, "Task", "A specific piece of work", "yellow"),
    (22, "Bug", "An unexpected problem or behavior", "red"),
    (23, "Feature", "A request, idea, or new functionality", "blue"),
)
API_VERSIONS = ("2022-11-28", "2026-03-10")
DOCS = "https://docs.github.com/rest"
