"""Atlassian Document Format as the Jira sandbox needs it: building the seed's rich text,
checking what clients send, and the plain text Jira searches and logs.

The sandbox's own, apart from connectors/jira/adf.py (the connector's conversion between
ADF and Concord's text), so that the connector reads documents it did not write itself.
The node types follow Atlassian's "Atlassian Document Format" reference: a `doc` (version
1) of blocks (paragraph, bulletList, orderedList with listItems), inline `text` nodes with
optional marks (link) and `hardBreak`.
"""

from __future__ import annotations

from typing import Any

Node = dict[str, Any]
# Block nodes whose text is one line (or more, with hard breaks) of the plain text.
_TEXT_BLOCKS = frozenset({"paragraph", "heading", "codeBlock"})


def doc(*blocks: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def paragraph(*inlines: Node) -> Node:
    return {"type": "paragraph", "content": list(inlines)}


def text(value: str, *, href: str | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    if href is not None:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def bullet_list(*items: str) -> Node:
    return {"type": "bulletList", "content": [_item(i) for i in items]}


def ordered_list(*items: str) -> Node:
    return {"type": "orderedList", "attrs": {"order": 1}, "content": [_item(i) for i in items]}


def _item(value: str) -> Node:
    return {"type": "listItem", "content": [paragraph(text(value))]}


def check(value: Any) -> None:
    """Raise ValueError (with Jira's message) unless `value` is a well-formed document:
    a doc of version 1 whose nodes all have a type and whose text nodes are not empty."""
    if not (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    ):
        raise ValueError(
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        )

    def walk(node: Any) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise ValueError("Invalid ADF: every node needs a type")
        if node["type"] == "text" and not (isinstance(node.get("text"), str) and node["text"]):
            raise ValueError("Invalid ADF: text nodes must have non-empty text")
        for child in node.get("content") or []:
            walk(child)

    walk(value)


def plain_text(node: Any) -> str:
    """The words of a document: text nodes joined, a line per block or hard break (what Jira
    matches with `~` and writes in a changelog's fromString/toString)."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    children = [c for c in node.get("content") or [] if isinstance(c, dict)]
    if kind in _TEXT_BLOCKS or all(c.get("type") in ("text", "hardBreak") for c in children):
        return "".join(plain_text(c) for c in children)
    return "\n".join(line for c in children if (line := plain_text(c)))
