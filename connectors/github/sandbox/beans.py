"""GitHub's JSON for users, repositories, labels, milestones, issue types and issues, as the
REST API answers them (the schemas simple-user, full-repository, label, milestone,
issue-type, issue, issue-comment and issue-search-result-item of GitHub's OpenAPI
description).

API URLs in the answers start with the sandbox's root (`api`), so that a client following
them stays in the sandbox; `html_url`s start with `web`, where the sandbox serves a page.
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import Any

from connectors.github.sandbox.schema import ISSUE_TYPES, USERS, Repo, User


def iso(seconds: float) -> str:
    """GitHub's timestamps: "2011-04-22T13:33:48Z" (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    """Epoch seconds of an ISO 8601 time ("2011-04-22T13:33:48Z"); ValueError otherwise."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode().rstrip("=")


def user(api: str, who: User) -> dict[str, Any]:
    url = f"{api}/users/{who.login}"
    return {
        "login": who.login,
        "id": who.id,
        "node_id": node_id("User", who.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{who.id}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"https://github.com/{who.login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": who.kind,
        "site_admin": False,
    }


def user_by_login(api: str, login: str) -> dict[str, Any]:
    return user(api, USERS.get(login) or User(zlib.crc32(login.encode()) % 10_000_000, login))


def repository(api: str, web: str, repo: Repo, open_issues: int, now: float) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    stamp = iso(now)
    urls = {
        name: f"{url}/{path}"
        for name, path in (
            ("archive_url", "{archive_format}{/ref}"),
            ("assignees_url", "assignees{/user}"),
            ("blobs_url", "git/blobs{/sha}"),
            ("branches_url", "branches{/branch}"),
            ("collaborators_url", "collaborators{/collaborator}"),
            ("comments_url", "comments{/number}"),
            ("commits_url", "commits{/sha}"),
            ("compare_url", "compare/{base}...{head}"),
            ("contents_url", "contents/{+path}"),
            ("contributors_url", "contributors"),
            ("deployments_url", "deployments"),
            ("downloads_url", "downloads"),
            ("events_url", "events"),
            ("forks_url", "forks"),
            ("git_commits_url", "git/commits{/sha}"),
            ("git_refs_url", "git/refs{/sha}"),
            ("git_tags_url", "git/tags{/sha}"),
            ("hooks_url", "hooks"),
            ("issue_comment_url", "issues/comments{/number}"),
            ("issue_events_url", "issues/events{/number}"),
            ("issues_url", "issues{/number}"),
            ("keys_url", "keys{/key_id}"),
            ("labels_url", "labels{/name}"),
            ("languages_url", "languages"),
            ("merges_url", "merges"),
            ("milestones_url", "milestones{/number}"),
            ("notifications_url", "notifications{?since,all,participating}"),
            ("pulls_url", "pulls{/number}"),
            ("releases_url", "releases{/id}"),
            ("stargazers_url", "stargazers"),
            ("statuses_url", "statuses/{sha}"),
            ("subscribers_url", "subscribers"),
            ("subscription_url", "subscription"),
            ("tags_url", "tags"),
            ("teams_url", "teams"),
            ("trees_url", "git/trees{/sha}"),
        )
    }
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user(api, repo.owner),
        "private": repo.private,
        "html_url": f"{web}/{repo.full_name}",
        "description": repo.description or None,
        "fork": False,
        "url": url,
        **urls,
        "clone_url": f"https://github.com/{repo.full_name}.git",
        "git_url": f"git://github.com/{repo.full_name}.git",
        "ssh_url": f"git@github.com:{repo.full_name}.git",
        "svn_url": f"https://github.com/{repo.full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 3,
        "watchers": 3,
        "watchers_count": 3,
        "size": 1024,
        "default_branch": "main",
        "open_issues": open_issues,
        "open_issues_count": open_issues,
        "has_issues": repo.has_issues,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "archived": repo.archived,
        "disabled": False,
        "visibility": "private" if repo.private else "public",
        "license": None,
        "pushed_at": stamp,
        "created_at": "2020-01-26T19:01:12Z",
        "updated_at": stamp,
        "permissions": {
            "admin": True,
            "maintain": True,
            "push": True,
            "triage": True,
            "pull": True,
        },
        "network_count": 0,
        "subscribers_count": 2,
    }


def label(api: str, repo: str, index: int, name: str, color: str, description: str) -> dict:
    return {
        "id": 208045946 + index,
        "node_id": node_id("Label", 208045946 + index),
        "url": f"{api}/repos/{repo}/labels/{name.replace(' ', '%20')}",
        "name": name,
        "description": description or None,
        "color": color,
        "default": index < 7,
    }


def milestone(api: str, web: str, repo: Repo, number: int, title: str, counts: tuple[int, int]):
    url = f"{api}/repos/{repo.full_name}/milestones/{number}"
    return {
        "url": url,
        "html_url": f"{web}/{repo.full_name}/milestone/{number}",
        "labels_url": f"{url}/labels",
        "id": repo.id * 100 + number,
        "node_id": node_id("Milestone", repo.id * 100 + number),
        "number": number,
        "state": "open",
        "title": title,
        "description": f"Everything planned for {title}",
        "creator": user(api, repo.owner if repo.owner.kind == "User" else USERS["concord-bot"]),
        "open_issues": counts[0],
        "closed_issues": counts[1],
        "created_at": "2024-01-10T09:00:00Z",
        "updated_at": "2024-01-10T09:00:00Z",
        "closed_at": None,
        "due_on": None,
    }


def issue_type(name: str) -> dict[str, Any] | None:
    for type_id, type_name, description, color in ISSUE_TYPES:
        if type_name == name:
            return {
                "id": type_id,
                "node_id": node_id("IssueType", type_id),
                "name": type_name,
                "description": description,
                "color": color,
                "created_at": "2024-06-01T10:00:00Z",
                "updated_at": "2024-06-01T10:00:00Z",
                "is_enabled": True,
            }
    return None


def issue(
    api: str,
    web: str,
    repo: Repo,
    data: dict[str, Any],
    row_id: int,
    created: float,
    modified: float,
    labels: dict[str, tuple[int, str, str]],
    milestones: dict[str, int],
) -> dict[str, Any]:
    """An issue (or pull request) as issues/get answers it."""
    number = data["number"]
    url = f"{api}/repos/{repo.full_name}/issues/{number}"
    assignees = [user_by_login(api, login) for login in data.get("assignees") or []]
    title = data.get("milestone")
    bean: dict[str, Any] = {
        "id": row_id,
        "node_id": data["node_id"],
        "url": url,
        "repository_url": f"{api}/repos/{repo.full_name}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{web}/{repo.full_name}/{'pull' if data.get('pull') else 'issues'}/{number}",
        "number": number,
        "state": data["state"],
        "title": data["title"],
        "body": data.get("body"),
        "user": user_by_login(api, data["author"]),
        "labels": [
            label(api, repo.full_name, *labels[name.casefold()])
            for name in data.get("labels") or []
            if name.casefold() in labels
        ],
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "milestone": (
            milestone(api, web, repo, milestones[title], title, (1, 0))
            if title in milestones
            else None
        ),
        "locked": False,
        "active_lock_reason": None,
        "comments": data.get("comments", 0),
        "closed_at": iso(data["closed_at"]) if data.get("closed_at") else None,
        "created_at": iso(created),
        "updated_at": iso(modified),
        "closed_by": user_by_login(api, data["closed_by"]) if data.get("closed_by") else None,
        "author_association": "MEMBER",
        "timeline_url": f"{url}/timeline",
        "type": issue_type(data["type"]) if data.get("type") else None,
    }
    if data.get("state_reason"):
        # GitHub sends `"state_reason": null` on an issue without one, but its description
        # declares the field nullable with an enum that lacks null, which OpenAPI 3.0.3
        # reads as "null is refused"; leaving the key out satisfies both readings.
        bean["state_reason"] = data["state_reason"]
    if data.get("pull"):
        pulls = f"{api}/repos/{repo.full_name}/pulls/{number}"
        bean["pull_request"] = {
            "url": pulls,
            "html_url": f"{web}/{repo.full_name}/pull/{number}",
            "diff_url": f"{web}/{repo.full_name}/pull/{number}.diff",
            "patch_url": f"{web}/{repo.full_name}/pull/{number}.patch",
            "merged_at": None,
        }
        bean["draft"] = False
    return bean


def comment(api: str, web: str, repo: Repo, number: int, data: dict[str, Any]) -> dict[str, Any]:
    """An issue comment as issues/get-comment answers it."""
    return {
        "id": data["id"],
        "node_id": node_id("IssueComment", data["id"]),
        "url": f"{api}/repos/{repo.full_name}/issues/comments/{data['id']}",
        "html_url": f"{web}/{repo.full_name}/issues/{number}#issuecomment-{data['id']}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{number}",
        "body": data["body"],
        "user": user_by_login(api, data["author"]),
        "created_at": iso(data["created"]),
        "updated_at": iso(data["updated"]),
        "author_association": "MEMBER",
        "performed_via_github_app": None,
    }
