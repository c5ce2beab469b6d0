"""GitHub Issues: the issues of one or more repositories, over the REST API.

Objects: `issues` of the configured repositories (pull requests, which the issues endpoints
list too, are left out everywhere). Record ids are "owner/repo#number" (mappers.ISSUE_ID).

- Fields: the repositories' labels, milestones, assignable users and (for organizations)
  issue types are the options; see connectors.github.mappers for the mapping.
- Changes: GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc&since=,
  per repository. Page numbers shift when an issue read earlier is updated meanwhile (it
  moves to the end and every later issue moves up one place, so one would be skipped), so
  each next page is asked for by time instead: `since` one second before the newest
  `updated_at` read so far, page 1, with the issues already read at that time left out by
  their version (mappers.version_of). Only when a whole page shares one second does the
  walk turn to the Link header's next page at the same `since`. Each call starts
  `overlap_seconds` before the newest `updated_at` of the cursor, and the cursor remembers
  the versions read in that window, so a change that becomes visible late is still read.
- Deletes: GitHub lists no deleted issues. A deleted issue answers 404 or 410 and a
  transferred one 301; `get` leaves all three out (the issue is not this connection's any
  more), webhooks report `deleted`/`transferred` as deleted, and `list_ids` serves the
  engine's reconciliation. `delete` deletes for good through GraphQL's `deleteIssue` (REST
  cannot; it needs admin rights on the repository).
- find: ids, numbers and URLs by GET; other fields through the search API
  (GET /search/issues), compared exactly afterwards. Search is eventually consistent and
  limited to 30 requests a minute.
- Writes: one call per issue (GitHub has no batch endpoint); a create that asks for
  `state: closed` is created, then closed.
- Comments: the issue comments (GET/POST /repos/{owner}/{repo}/issues/{number}/comments,
  PATCH and DELETE /repos/{owner}/{repo}/issues/comments/{id}), read and written as
  Markdown (mappers.comment_from and comment_body). GitHub has no internal notes, so none is
  ever written here; a comment's author and time are the token's user and now, which is
  why copies carry them in their text (apps/syncs/engine/comments.py). A new comment moves
  its issue's `updated_at`, so the issue feed brings it; edits and deletions are announced
  by the `issue_comment` webhook (created, edited, deleted), which names the issue.
- Auth: a fine-grained personal access token or an installation token (both are bearer
  tokens), or a GitHub App's id, installation id and private key, from which the client
  makes its own installation tokens (connectors.github.client.AppTokens).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.answers import need
from connectors.base import (
    JSON,
    ChangePage,
    Comment,
    CommentSupport,
    Connector,
    ConnectorConfig,
    Cursor,
    FieldSpec,
    NewComment,
    ObjectType,
    Record,
    RecordUpdate,
    WebhookRequest,
    WebhookResult,
    WriteResult,
    http_base_url,
)
from connectors.errors import (
    ConfigurationError,
    NotFound,
    PermissionDenied,
    RecordError,
    UnexpectedAnswer,
)
from connectors.github import mappers, webhooks
from connectors.github.client import MAX_PER_PAGE, SYSTEM, GitHubClient, normalise_pem
from connectors.github.mappers import REPOSITORY, format_datetime, parse_datetime

OBJECT_TYPE = "issues"
LIST_CALL = "GET /repos/{owner}/{repo}/issues"
SEARCH_CALL = "GET /search/issues"
DEFAULT_API = "https://api.github.com"
APP_NUMBER = re.compile(r"^[A-Za-z0-9.]{1,40}$")  # 123456, or a client id like Iv23li8…
SEARCH_FIELDS = {
    "title": "in:title",
    "body": "in:body",
    "labels": "label",
    "assignees": "assignee",
    "assignee": "assignee",
    "milestone": "milestone",
    "state": "state",
    "type": "type",
}


class GitHubConfig(ConnectorConfig):
    """A token and the repositories whose issues sync."""

    base_url: str = Field(
        default=DEFAULT_API,
        title="API URL",
        description="https://api.github.com for GitHub.com (GitHub Enterprise Server: "
        "https://HOST/api/v3)",
    )
    token: SecretStr | None = Field(
        default=None,
        title="Token",
        description="A fine-grained personal access token (Issues: read and write, Metadata: "
        "read, on each repository), or an App installation token; leave empty for a GitHub "
        "App below",
    )
    repositories: str = Field(
        title="Repositories",
        description="owner/repo, several separated by commas; new issues go to the first",
    )
    app_id: str | None = Field(
        default=None,
        title="GitHub App ID",
        description="For a GitHub App instead of a token: its App ID (or Client ID), from the "
        "App's settings page",
    )
    installation_id: str | None = Field(
        default=None,
        title="Installation ID",
        description="The App's installation on the repositories' account: the number at the "
        "end of the installation's settings address",
    )
    private_key: SecretStr | None = Field(
        default=None,
        title="App private key",
        description="The App's private key: the whole .pem file GitHub gave (Private keys, "
        "Generate a private key)",
    )

    @field_validator("base_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return http_base_url(value, "must be an http(s) URL, like https://api.github.com")

    @field_validator("token", "private_key")
    @classmethod
    def _secret_or_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("private_key")
    @classmethod
    def _pem(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else SecretStr(normalise_pem(value.get_secret_value()))

    @field_validator("app_id", "installation_id")
    @classmethod
    def _app_number(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not APP_NUMBER.match(value):
            raise ValueError("must be the number (or client id) GitHub shows")
        return value or None

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> GitHubConfig:
        app = (self.app_id, self.installation_id, self.private_key)
        if self.token is not None and any(app):
            raise ValueError("give a token or a GitHub App (App ID, installation, key), not both")
        if self.token is None and not all(app):
            raise ValueError(
                "give a token, or a GitHub App's App ID, installation ID and private key"
            )
        return self

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, value: str) -> str:
        names = []
        for given in value.replace("\n", ",").split(","):
            name = given.strip().strip("/")
            if name.startswith(("https://", "http://")):  # a repository's address, pasted
                name = "/".join(urlparse(name).path.strip("/").split("/")[:2])
            if not name:
                continue
            if not REPOSITORY.match(name):
                raise ValueError(f"{name!r} is not owner/repo")
            names.append(name)
        if not names:
            raise ValueError("name at least one repository, like octo-org/website")
        seen = list(dict.fromkeys(n.casefold() for n in names))
        if len(seen) != len(names):
            raise ValueError("a repository is named twice")
        return ", ".join(names)

    @property
    def repos(self) -> list[str]:
        return [n.strip() for n in self.repositories.split(",")]

    def app(self) -> tuple[str, str, str] | None:
        """(App ID, installation ID, PEM key) when the connection is a GitHub App's."""
        if self.app_id and self.installation_id and self.private_key is not None:
            return self.app_id, self.installation_id, self.private_key.get_secret_value()
        return None


class GitHubConnector(Connector):
    kind = "github"
    label = "GitHub"
    config_class = GitHubConfig
    object_types_offered = (
        ObjectType(
            OBJECT_TYPE,
            "Issues",
            webhooks=True,
            deletes_in_feed=False,
            # Comments can be edited and deleted; GitHub has no internal notes.
            comments=CommentSupport(edit=True, delete=True, internal=False),
        ),
    )
    config: GitHubConfig
    page_size = MAX_PER_PAGE  # issues per listing page
    overlap_seconds = 60.0  # how late a change may become visible in the listing and be read

    def __init__(self, config: ConnectorConfig, **options: Any) -> None:
        super().__init__(config, **options)
        assert isinstance(config, GitHubConfig)
        self.client = GitHubClient(
            base_url=config.base_url,
            token=config.token.get_secret_value() if config.token is not None else None,
            app=config.app(),
            rate_limiter=self.rate_limiter,
            budget_key=self.budget_key,
            on_call=self.on_call,
            address_policy=self.address_policy,
        )
        self.repositories = config.repos
        self._specs: dict[str, FieldSpec] | None = None
        self._milestones: dict[str, dict[str, int]] = {}

    def close(self) -> None:
        self.client.close()

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, Any] | None = None
    ) -> str | None:
        """The issue's page: https://github.com/owner/repo/issues/N (on GitHub Enterprise
        Server the host without /api/v3; elsewhere, like the sandbox, the API root)."""
        parts = mappers.split_id(record_id)
        if object_type != OBJECT_TYPE or parts is None:
            return None
        base = self.config.base_url
        if base == DEFAULT_API:
            base = "https://github.com"
        elif base.endswith("/api/v3"):
            base = base.removesuffix("/api/v3")
        return f"{base}/{parts[0]}/issues/{parts[1]}"

    # -- discovery -------------------------------------------------------------------------

    def check(self) -> None:
        """Each repository exists, has issues turned on, and its issues can be listed.

        Raises AuthenticationError for a bad token, ConfigurationError naming a repository
        that is missing (or invisible to the token: GitHub answers 404 for both) or has
        issues turned off, PermissionDenied naming the permission the token lacks.
        """
        for repo in self.repositories:
            try:
                answer = self.client.repository(repo)
            except NotFound as exc:
                raise ConfigurationError(
                    f"repository {repo} does not exist, or this token cannot see it",
                    system=SYSTEM,
                    call=exc.call,
                    status=exc.status,
                ) from None
            if answer.get("has_issues") is False:
                raise ConfigurationError(
                    f"repository {repo} has issues turned off (Settings, Features, Issues)",
                    system=SYSTEM,
                )
            if answer.get("archived") is True:
                raise ConfigurationError(
                    f"repository {repo} is archived: its issues cannot be changed",
                    system=SYSTEM,
                )
            self._list(repo, since=None, per_page=1, page=1)

    def object_types(self) -> list[ObjectType]:
        return list(self.object_types_offered)

    def fields(self, object_type: str) -> list[FieldSpec]:
        self._check_type(object_type)
        return list(self._field_specs().values())

    def _field_specs(self) -> dict[str, FieldSpec]:
        if self._specs is None:
            self._specs = self.discovered(OBJECT_TYPE, self._discover)
        return self._specs

    def _discover(self) -> dict[str, FieldSpec]:
        labels: list[str] = []
        assignees: list[str] = []
        milestones: list[str] = []
        types: list[str] | None = None
        for repo in self.repositories:
            labels += [str(x["name"]) for x in self.client.labels(repo) if x.get("name")]
            assignees += [str(x["login"]) for x in self.client.assignees(repo) if x.get("login")]
            numbers = self._milestone_numbers(repo)
            milestones += list(numbers)
            found = self.client.issue_types(repo)
            if found is not None:
                types = (types or []) + [str(t["name"]) for t in found if t.get("name")]
        specs = mappers.build_fields(
            repositories=self.repositories,
            labels=sorted(set(labels), key=str.casefold),
            assignees=sorted(set(assignees), key=str.casefold),
            milestones=milestones,
            issue_types=types,
        )
        return {s.name: s for s in specs}

    def _milestone_numbers(self, repo: str) -> dict[str, int]:
        if repo not in self._milestones:
            self._milestones[repo] = {
                str(m["title"]): int(m["number"])
                for m in self.client.milestones(repo)
                if m.get("title") and isinstance(m.get("number"), int)
            }
        return self._milestones[repo]

    def _milestone(self, repo: str, title: str) -> int:
        numbers = self._milestone_numbers(repo)
        if title not in numbers:
            self._milestones.pop(repo, None)  # made since we looked? look once more
            numbers = self._milestone_numbers(repo)
        if title not in numbers:
            raise ValueError(f"{repo} has no milestone {title!r}")
        return numbers[title]

    def _check_type(self, object_type: str) -> None:
        if object_type != OBJECT_TYPE:
            raise ConfigurationError(f"GitHub has no object type {object_type!r}", system=SYSTEM)

    def _repo(self, name: str) -> str | None:
        """The configured spelling of a repository name (GitHub's are case-insensitive)."""
        wanted = name.casefold()
        return next((r for r in self.repositories if r.casefold() == wanted), None)

    # -- reading ---------------------------------------------------------------------------

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        """Issues updated after the cursor, per repository, oldest first.

        The cursor is {"repos": {repo: {"since": ISO time of the newest `updated_at` read,
        "recent": {id: version} of the issues read in the overlap window before it}}}.
        Raises ConfigurationError for a cursor this connector did not make.
        """
        self._check_type(object_type)
        state = _parse_cursor(cursor)
        for index, repo in enumerate(self.repositories):
            high, recent = state.get(repo, (None, {}))
            start = None if high is None else high - timedelta(seconds=self.overlap_seconds)
            last_repo = index == len(self.repositories) - 1
            for items, more in self._walk(repo, start):
                records = []
                for item in items:
                    if mappers.is_pull_request(item):
                        continue
                    record = mappers.issue_to_record(item, repo)
                    if recent.get(record.id) == record.version:
                        continue  # read already (the overlap and the time paging repeat)
                    records.append(record)
                    recent[record.id] = record.version or ""
                    if record.modified_at is not None and (
                        high is None or record.modified_at > high
                    ):
                        high = record.modified_at
                state[repo] = (high, recent)
                yield ChangePage(
                    records=records,
                    cursor=self._cursor(state),
                    has_more=more or not last_repo,
                )

    def _walk(
        self, repo: str, since: datetime | None
    ) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Pages of the issue listing of `repo` from `since`, paged by time (see the module
        docstring): (items, whether more follow)."""
        page = 1
        guard = self.page_guard(LIST_CALL, system=SYSTEM, start=[repo, _stamp(since), page])
        while True:
            items, more = self._list(repo, since=_stamp(since), per_page=self.page_size, page=page)
            if not isinstance(items, list):
                raise UnexpectedAnswer("expected a list of issues", system=SYSTEM, call=LIST_CALL)
            newest: datetime | None = None
            for position, item in enumerate(items):
                need(item, "number", int, system=SYSTEM, call=LIST_CALL, where=f"[{position}]")
                stamp = need(
                    item, "updated_at", str, system=SYSTEM, call=LIST_CALL, where=f"[{position}]"
                )
                moment = parse_datetime(stamp)
                newest = moment if newest is None or moment > newest else newest
            if (
                more
                and newest is not None
                and (since is None or newest - timedelta(seconds=1) > since)
            ):
                since, page = newest - timedelta(seconds=1), 1
            elif more:
                page += 1  # a whole page within one second: on to the next at this time
            guard.page(len(items), [repo, _stamp(since), page] if more else None)
            yield items, more
            if not more:
                return

    def _list(
        self, repo: str, *, since: str | None, per_page: int, page: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One listing page, with a missing repository or a missing permission named: these
        are what a connection shows when a repository is deleted or a token narrowed."""
        try:
            return self.client.list_issues(repo, since=since, per_page=per_page, page=page)
        except NotFound as exc:
            raise ConfigurationError(
                f"repository {repo} does not exist, or this token cannot see it",
                system=SYSTEM,
                call=exc.call,
                status=exc.status,
            ) from None
        except PermissionDenied as exc:
            raise PermissionDenied(
                f"the token cannot read the issues of {repo}: give it the Issues "
                "permission (read and write) on that repository",
                system=SYSTEM,
                call=exc.call,
                status=exc.status,
                body=exc.body_excerpt,
            ) from None

    def _cursor(self, state: dict[str, tuple[datetime | None, dict[str, str]]]) -> Cursor:
        repos: dict[str, JSON] = {}
        for repo, (high, recent) in state.items():
            if high is None:
                continue
            floor = (high - timedelta(seconds=self.overlap_seconds)).isoformat(timespec="seconds")
            kept = {k: v for k, v in recent.items() if v.split("|", 1)[0] >= floor}
            repos[repo] = {
                "since": high.isoformat(timespec="seconds"),
                "recent": dict(sorted(kept.items())),
            }
        return {"repos": repos}

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        """The issues that exist, in input order. Ids of other repositories, deleted (404,
        410) and transferred (301) issues, and pull requests are left out."""
        self._check_type(object_type)
        out: list[Record] = []
        seen: set[str] = set()
        for record_id in ids:
            parts = mappers.split_id(str(record_id))
            repo = self._repo(parts[0]) if parts else None
            if parts is None or repo is None:
                continue
            issue = self.client.issue(repo, parts[1])
            if issue is None or mappers.is_pull_request(issue):
                continue
            record = mappers.issue_to_record(issue, repo)
            if record.id not in seen:
                seen.add(record.id)
                out.append(record)
        return out

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        """Issues whose `field` equals one of `values` (see the module docstring).

        Raises ConfigurationError for a field that cannot be searched.
        """
        self._check_type(object_type)
        wanted = [v for v in values if v not in (None, "", [])]
        if not wanted:
            return []
        if field == "id":
            return self.get(object_type, [str(v) for v in wanted])
        if field in ("number", "url"):
            ids = [i for v in wanted for i in self._ids_for(field, v)]
            return self.get(object_type, ids)
        qualifier = SEARCH_FIELDS.get(field)
        if qualifier is None:
            raise ConfigurationError(f"GitHub issues cannot be found by {field!r}", system=SYSTEM)
        out: dict[str, Record] = {}
        for value in wanted:
            for record in self._search(qualifier, value):
                if _matches(record.fields.get(field), value):
                    out.setdefault(record.id, record)
        return list(out.values())

    def _ids_for(self, field: str, value: JSON) -> list[str]:
        if field == "number":
            try:
                number = int(str(value))
            except ValueError:
                return []
            return [mappers.issue_id(repo, number) for repo in self.repositories]
        path = urlparse(str(value)).path.strip("/").split("/")
        if len(path) >= 4 and path[-2] == "issues" and path[-1].isdigit():
            return [f"{path[-4]}/{path[-3]}#{path[-1]}"]
        return []

    def _search(self, qualifier: str, value: JSON) -> Iterator[Record]:
        text = " ".join(str(value).replace('"', " ").split())
        term = f'"{text}" {qualifier}' if qualifier.startswith("in:") else f'{qualifier}:"{text}"'
        scope = " ".join(f"repo:{repo}" for repo in self.repositories)
        query = f"{term} {scope} is:issue"
        page = 1
        guard = self.page_guard(SEARCH_CALL, system=SYSTEM, start=page)
        while True:
            answer, more = self.client.search_issues(query, page=page)
            items = need(answer, "items", list, system=SYSTEM, call=SEARCH_CALL)
            for item in items:
                if not isinstance(item, dict) or mappers.is_pull_request(item):
                    continue
                url = str(item.get("repository_url") or "")
                repo = self._repo("/".join(url.rstrip("/").split("/")[-2:]))
                if repo is not None and isinstance(item.get("number"), int):
                    yield mappers.issue_to_record(item, repo)
            page += 1
            guard.page(len(items), page if more else None)
            if not more:
                return

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        """Every issue id of the repositories (pull requests left out), in pages."""
        self._check_type(object_type)
        for repo in self.repositories:
            seen: set[str] = set()
            for items, _ in self._walk(repo, None):
                page = []
                for item in items:
                    if mappers.is_pull_request(item):
                        continue
                    record_id = mappers.issue_id(repo, int(item["number"]))
                    if record_id not in seen:
                        seen.add(record_id)
                        page.append(record_id)
                yield page

    # -- writing ---------------------------------------------------------------------------

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        """Open each issue in its `repository` (the first configured one by default), then
        close it when it asks for `state: closed` (GitHub opens every new issue)."""
        self._check_type(object_type)
        specs = self._field_specs()
        results = []
        for item in items:
            values = dict(item)
            repo_name = values.pop("repository", None) or self.repositories[0]
            repo = self._repo(str(repo_name))
            if repo is None:
                results.append(
                    WriteResult(
                        error=RecordError(
                            f"{repo_name} is not one of this connection's repositories",
                            fields={"repository": "not configured"},
                            system=SYSTEM,
                        )
                    )
                )
                continue
            state = {k: values.pop(k) for k in ("state", "state_reason") if k in values}
            try:
                body = mappers.encode_fields(
                    values, specs, repo=repo, milestone_number=self._milestone
                )
                closing = mappers.encode_fields(
                    state, specs, repo=repo, milestone_number=self._milestone
                )
                if closing.get("state") != "closed":
                    closing = {}  # new issues are open; a reason alone is ignored by GitHub
                issue = self.client.create_issue(repo, body)
            except RecordError as exc:
                results.append(WriteResult(error=exc))
                continue
            record = mappers.issue_to_record(issue, repo)
            if closing:
                try:
                    issue = self.client.update_issue(repo, int(issue["number"]), closing)
                except RecordError as exc:
                    exc.record_id = record.id
                    exc.message = f"created as {record.id}, but not closed: {exc.message}"
                    results.append(WriteResult(record=record, error=exc))
                    continue
                record = mappers.issue_to_record(issue, repo)
            results.append(WriteResult(record=record))
        return results

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        self._check_type(object_type)
        specs = self._field_specs()
        results = []
        for item in items:
            parts = mappers.split_id(item.id)
            repo = self._repo(parts[0]) if parts else None
            if parts is None or repo is None:
                results.append(WriteResult(error=RecordError(
                    f"{item.id} is not an issue of this connection's repositories",
                    record_id=item.id, system=SYSTEM,
                )))  # fmt: skip
                continue
            values = dict(item.fields)
            moved = values.pop("repository", None)
            try:
                if moved not in (None, "") and self._repo(str(moved)) != repo:
                    raise RecordError(
                        "an issue cannot be moved to another repository by Concord "
                        "(transfer it on GitHub)",
                        record_id=item.id,
                        fields={"repository": "cannot change"},
                        system=SYSTEM,
                    )
                body = mappers.encode_fields(
                    values, specs, repo=repo, milestone_number=self._milestone, record_id=item.id
                )
                if body:
                    issue = self.client.update_issue(repo, parts[1], body)
                else:
                    found = self.client.issue(repo, parts[1])
                    if found is None:
                        raise RecordError("the issue was deleted", record_id=item.id, system=SYSTEM)
                    issue = found
            except RecordError as exc:
                if exc.record_id is None:
                    exc.record_id = item.id
                results.append(WriteResult(error=exc))
                continue
            results.append(WriteResult(record=mappers.issue_to_record(issue, repo)))
        return results

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete each issue for good (GraphQL deleteIssue; needs admin rights). An issue
        already gone counts as deleted."""
        self._check_type(object_type)
        results = []
        for record_id in ids:
            parts = mappers.split_id(str(record_id))
            repo = self._repo(parts[0]) if parts else None
            issue = self.client.issue(repo, parts[1]) if parts and repo else None
            if issue is not None:
                node_id = issue.get("node_id")
                problems = (
                    self.client.delete_issue(node_id)
                    if isinstance(node_id, str)
                    else ["no node_id"]
                )
                if problems:
                    results.append(WriteResult(error=RecordError(
                        "; ".join(problems), record_id=str(record_id), system=SYSTEM,
                        call="POST /graphql deleteIssue",
                    )))  # fmt: skip
                    continue
            results.append(WriteResult(record=Record(id=str(record_id), deleted=True)))
        return results

    # -- comments --------------------------------------------------------------------------

    def comments(self, object_type: str, record_id: str) -> list[Comment]:
        repo, number = self._issue_of(object_type, record_id)
        return [mappers.comment_from(c) for c in self.client.comments(repo, number)]

    def comment_create(self, object_type: str, record_id: str, comment: NewComment) -> Comment:
        repo, number = self._issue_of(object_type, record_id)
        if comment.internal:
            raise RecordError(
                "GitHub has no internal comments: a private note is never written here",
                record_id=record_id, system=SYSTEM,
            )  # fmt: skip
        body = mappers.comment_body(comment.body)
        return mappers.comment_from(self.client.create_comment(repo, number, body))

    def comment_update(
        self, object_type: str, record_id: str, comment_id: str, comment: NewComment
    ) -> Comment:
        repo, number = self._issue_of(object_type, record_id)
        body = mappers.comment_body(comment.body)
        comment_number = _comment_number(comment_id, record_id)
        answer = self.client.update_comment(repo, number, comment_number, body)
        return mappers.comment_from(answer)

    def comment_delete(self, object_type: str, record_id: str, comment_id: str) -> None:
        repo, _ = self._issue_of(object_type, record_id)
        self.client.delete_comment(repo, _comment_number(comment_id, record_id))

    def _issue_of(self, object_type: str, record_id: str) -> tuple[str, int]:
        """(configured repository, number) of an issue id; RecordError for an id that is no
        issue of this connection's repositories."""
        self._check_type(object_type)
        parts = mappers.split_id(str(record_id))
        repo = self._repo(parts[0]) if parts else None
        if parts is None or repo is None:
            raise RecordError(
                f"{record_id} is not an issue of this connection's repositories",
                record_id=str(record_id), system=SYSTEM,
            )  # fmt: skip
        return repo, parts[1]

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        return webhooks.parse(request, secret, repositories=self.repositories)


def _comment_number(comment_id: str, record_id: str) -> str:
    """A GitHub comment id (a number), checked before it goes into a path."""
    if not str(comment_id).isdigit():
        raise RecordError(
            f"{comment_id!r} is not a GitHub comment id", record_id=record_id, system=SYSTEM
        )
    return str(comment_id)


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


def _parse_cursor(cursor: Cursor | None) -> dict[str, tuple[datetime | None, dict[str, str]]]:
    if not cursor:
        return {}
    try:
        out: dict[str, tuple[datetime | None, dict[str, str]]] = {}
        for repo, entry in dict(cursor["repos"]).items():
            since = datetime.fromisoformat(str(entry["since"]))
            if since.tzinfo is None:
                raise ValueError("no time zone")
            recent = {str(k): str(v) for k, v in (entry.get("recent") or {}).items()}
            out[str(repo)] = (since.astimezone(UTC), recent)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ConfigurationError(f"not a GitHub change cursor: {cursor!r}") from None
    return out


def _matches(value: JSON, wanted: JSON) -> bool:
    if isinstance(value, list):
        return any(str(v).casefold() == str(wanted).casefold() for v in value)
    return value == wanted or (value is not None and str(value) == str(wanted))


CONNECTOR = GitHubConnector
