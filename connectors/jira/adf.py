"""Atlassian Document Format (ADF) to plain text and back.

Jira Cloud's REST v3 takes and returns rich text (description, environment, textarea custom
fields, comments) as ADF, a JSON tree: a `doc` holding block nodes (paragraph, bulletList,
orderedList, heading, codeBlock, table, ...) whose leaves are inline nodes (text with marks,
hardBreak, mention, emoji, inlineCard, ...). Concord's canonical value for a TEXT field is
plain text, so this module maps between the two.

The plain-text form:

- blocks are separated by one blank line; a single newline inside a paragraph is a hardBreak;
- a bullet list is one line per item, "- item" ("* item" is read too); an ordered list is
  "1. item", numbered from the list's `order`; a nested list is indented two spaces more
  than its parent item, and a hard break inside an item continues on a line indented the
  same way;
- a link is `[text](url)`, or the bare URL when the link text is the URL itself; bare
  http(s) URLs in text become links.

Guarantees (tested in tests/connectors/test_jira.py):

- `adf_to_text(text_to_adf(t)) == t` for every text already in that form (paragraphs,
  bullet and ordered lists, nested lists, links, hard breaks);
- for any text, one round trip reaches a fixed point:
  `text_to_adf(adf_to_text(text_to_adf(t))) == text_to_adf(t)`;
- `adf_to_text` never raises on a well-formed document with node types it does not know:
  an unknown node degrades to the text it contains. Formatting marks other than links
  (bold, italic, code, colour) are dropped, their text kept.

What plain text cannot carry, and so does not survive ADF -> text -> ADF: formatting marks,
headings (they become paragraphs), code blocks (paragraphs with hard breaks), tables (one
line per row, cells joined by " | "), media. A paragraph whose text happens to start with
"- " or "1. " comes back as a list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.richtext import BULLET, FENCE, ORDERED, split_fences, text_blocks

Node = dict[str, Any]

# `[text](url)` with a web or mail URL, or a bare web URL. Trailing sentence punctuation is
# not part of a bare URL ("see https://x.example/a." links to ".../a").
_LINK = re.compile(
    r"\[(?P<label>[^\[\]\n]+)\]\((?P<href>(?:https?://|mailto:)[^\s()]+)\)"
    r"|(?P<bare>https?://[^\s<>()\[\]]+)"
)
_TRAILING_PUNCTUATION = ".,;:!?'\""

_LIST_TYPES = frozenset({"bulletList", "orderedList"})
# Block containers whose children are blocks rendered one after another.
_CONTAINERS = frozenset(
    {
        "doc",
        "blockquote",
        "panel",
        "expand",
        "nestedExpand",
        "layoutSection",
        "layoutColumn",
        "bodiedExtension",
        "decisionList",
        "taskList",
    }
)
# Blocks with inline content rendered as one paragraph of text.
_TEXT_BLOCKS = frozenset({"paragraph", "heading", "codeBlock", "decisionItem", "taskItem"})
_SILENT = frozenset({"rule", "media", "mediaSingle", "mediaGroup", "mediaInline", "extension"})


# -- ADF -> text ---------------------------------------------------------------------------


def adf_to_text(document: Any) -> str | None:
    """Plain text of an ADF document (see the module docstring). None stays None.

    A string is returned as it is (some fields and API versions answer plain text already).
    Raises TypeError for anything that is neither None, a string nor an ADF node.
    """
    if document is None:
        return None
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        raise TypeError(f"not an ADF document: {type(document).__name__}")
    return "\n\n".join(b for b in _blocks(document) if b.strip())


def _children(node: Node) -> list[Node]:
    content = node.get("content")
    if not isinstance(content, list):
        return []
    return [c for c in content if isinstance(c, dict)]


def _blocks(node: Node) -> list[str]:
    """The node as a list of text blocks (each to be separated by a blank line)."""
    kind = node.get("type")
    if kind in _CONTAINERS:
        out: list[str] = []
        for child in _children(node):
            out.extend(_blocks(child))
        return out
    if kind in _TEXT_BLOCKS:
        return [_inline(_children(node))]
    if kind in _LIST_TYPES:
        return ["\n".join(_list_lines(node, 0))]
    if kind == "table":
        return ["\n".join(_table_rows(node))]
    if kind in _SILENT:
        return []
    # Unknown node: degrade to the text it holds. Inline children make one paragraph;
    # block children are rendered as blocks.
    children = _children(node)
    if not children:
        text = _inline([node])
        return [text] if text else []
    if any(_is_block(c) for c in children):
        out = []
        for child in children:
            out.extend(_blocks(child) if _is_block(child) else [_inline([child])])
        return out
    return [_inline(children)]


def _is_block(node: Node) -> bool:
    kind = node.get("type")
    return (
        kind in _CONTAINERS
        or kind in _TEXT_BLOCKS
        or kind in _LIST_TYPES
        or kind in _SILENT
        or kind in {"table", "tableRow", "tableCell", "tableHeader", "listItem"}
    )


def _list_lines(node: Node, indent: int) -> list[str]:
    ordered = node.get("type") == "orderedList"
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    start = attrs.get("order", 1)
    number = start if isinstance(start, int) and start >= 0 else 1
    pad = " " * indent
    lines: list[str] = []
    for item in _children(node):
        marker = f"{number}. " if ordered else "- "
        item_lines: list[str] = []
        nested: list[str] = []
        for child in _children(item) if item.get("type") == "listItem" else [item]:
            if child.get("type") in _LIST_TYPES:
                nested.extend(_list_lines(child, indent + 2))
            else:
                for block in _blocks(child):
                    item_lines.extend(block.split("\n"))
        if not any(line.strip() for line in item_lines) and not nested:
            continue  # an empty item has no plain-text form that reads back as an item
        number += 1
        first, *rest = item_lines or [""]
        lines.append(f"{pad}{marker}{first}")
        lines.extend(f"{pad}  {line}" for line in rest)
        lines.extend(nested)
    return lines


def _table_rows(node: Node) -> list[str]:
    rows = []
    for row in _children(node):
        cells = []
        for cell in _children(row):
            cells.append(
                " ".join(" ".join(b.split("\n")) for b in _blocks({**cell, "type": "doc"}))
            )
        rows.append(" | ".join(cells))
    return rows


def _inline(nodes: list[Node]) -> str:
    """Inline nodes as text; consecutive text nodes with the same link become one link."""
    parts: list[str] = []
    link_text: list[str] = []
    link_href: str | None = None

    def flush() -> None:
        nonlocal link_href
        if link_href is not None:
            label = "".join(link_text)
            parts.append(label if label == link_href else f"[{label}]({link_href})")
            link_text.clear()
            link_href = None

    for node in nodes:
        kind = node.get("type")
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        if kind == "text":
            text = node.get("text") if isinstance(node.get("text"), str) else ""
            href = _link_href(node)
            if href is not None and href == link_href:
                link_text.append(text)
                continue
            flush()
            if href is not None:
                link_href = href
                link_text.append(text)
            else:
                parts.append(text)
            continue
        flush()
        if kind == "hardBreak":
            parts.append("\n")
        elif kind == "mention":
            parts.append(str(attrs.get("text") or f"@{attrs.get('id', '')}"))
        elif kind == "emoji":
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind in {"inlineCard", "blockCard", "embedCard"}:
            parts.append(str(attrs.get("url") or ""))
        elif kind == "date":
            parts.append(_date_text(attrs.get("timestamp")))
        elif kind == "status":
            parts.append(str(attrs.get("text") or ""))
        elif kind in _SILENT:
            continue
        elif isinstance(node.get("text"), str):
            parts.append(node["text"])
        else:
            children = _children(node)
            if children:
                parts.append(
                    "\n".join(_blocks(node))
                    if any(_is_block(c) for c in children)
                    else _inline(children)
                )
    flush()
    return "".join(parts)


def _link_href(node: Node) -> str | None:
    for mark in node.get("marks") or []:
        if isinstance(mark, dict) and mark.get("type") == "link":
            attrs = mark.get("attrs") or {}
            href = attrs.get("href") if isinstance(attrs, dict) else None
            if isinstance(href, str) and href:
                return href
    return None


def _date_text(timestamp: Any) -> str:
    """ADF dates carry epoch milliseconds (as a string); plain text shows YYYY-MM-DD."""
    try:
        return datetime.fromtimestamp(int(timestamp) / 1000, UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return str(timestamp or "")


# -- text -> ADF ---------------------------------------------------------------------------


def text_to_adf(text: str | None) -> Node | None:
    """An ADF document for plain text (see the module docstring). None stays None.

    Empty or blank text gives an empty document. Raises TypeError for a non-string.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"ADF text must be a string, not {type(text).__name__}")
    content: list[Node] = []
    for block in text_blocks(text):
        content.extend(_block_nodes(block))
    return {"type": "doc", "version": 1, "content": content}


def _marker(line: str) -> tuple[int, str, int, str] | None:
    """(indent, "bullet"|"ordered", number, text) for a list line, else None."""
    match = BULLET.match(line)
    if match:
        return len(match["indent"]), "bullet", 0, match["text"]
    match = ORDERED.match(line)
    if match:
        return len(match["indent"]), "ordered", int(match["number"]), match["text"]
    return None


def _block_nodes(lines: list[str]) -> list[Node]:
    """One blank-line-separated block as paragraphs and lists (a block can hold both)."""
    nodes: list[Node] = []
    paragraph: list[str] = []
    i = 0
    while i < len(lines):
        marker = _marker(lines[i])
        if marker is None:
            paragraph.append(lines[i])
            i += 1
            continue
        if paragraph:
            nodes.append(_paragraph(paragraph))
            paragraph = []
        # A list run: list lines plus lines indented past the run's first marker.
        base = marker[0]
        j = i + 1
        while j < len(lines):
            indent = len(lines[j]) - len(lines[j].lstrip(" "))
            if _marker(lines[j]) is None and indent <= base:
                break
            if _marker(lines[j]) is not None and indent < base:
                break
            j += 1
        position = i
        while position < j:
            node, position = _parse_list(lines, position, j)
            nodes.append(node)
        i = j
    if paragraph:
        nodes.append(_paragraph(paragraph))
    return nodes


def _parse_list(lines: list[str], start: int, end: int) -> tuple[Node, int]:
    """A list node from lines[start:end] at the indent of lines[start]; (node, next index)."""
    first = _marker(lines[start])
    assert first is not None  # the caller starts a list only on a marker line
    indent, kind, number, _ = first
    items: list[Node] = []
    i = start
    while i < end:
        line = lines[i]
        marker = _marker(line)
        line_indent = len(line) - len(line.lstrip(" "))
        if marker is not None and marker[0] == indent:
            if marker[1] != kind:
                break  # the other kind of list starts here, as a sibling
            items.append({"type": "listItem", "content": [_paragraph([marker[3]])]})
            i += 1
        elif line_indent <= indent:
            break
        elif marker is not None:
            nested, i = _parse_list(lines, i, end)
            items[-1]["content"].append(nested)
        else:
            # A continuation line: a hard break inside the item's paragraph.
            _append_line(items[-1]["content"][0], line.strip())
            i += 1
    node: Node
    if kind == "ordered":
        node = {"type": "orderedList", "attrs": {"order": number}, "content": items}
    else:
        node = {"type": "bulletList", "content": items}
    return node, i


def _paragraph(lines: list[str]) -> Node:
    content: list[Node] = []
    for index, line in enumerate(lines):
        if index:
            content.append({"type": "hardBreak"})
        content.extend(_inline_nodes(line))
    return {"type": "paragraph", "content": content}


def _append_line(paragraph: Node, line: str) -> None:
    paragraph["content"].append({"type": "hardBreak"})
    paragraph["content"].extend(_inline_nodes(line))


def _inline_nodes(line: str) -> list[Node]:
    nodes: list[Node] = []
    position = 0
    for match in _LINK.finditer(line):
        if match["bare"]:
            href = match["bare"].rstrip(_TRAILING_PUNCTUATION)
            label = href
            end = match.start() + len(href)
        else:
            href, label, end = match["href"], match["label"], match.end()
        _text(nodes, line[position : match.start()])
        _text(nodes, label, [{"type": "link", "attrs": {"href": href}}])
        position = end
    _text(nodes, line[position:])
    return nodes


def _text(nodes: list[Node], text: str, marks: list[Node] | None = None) -> None:
    """Append a text node, merged into the previous one when it has the same marks."""
    if not text:  # ADF forbids empty text nodes
        return
    previous = nodes[-1] if nodes else None
    if previous is not None and previous["type"] == "text" and previous.get("marks") == marks:
        previous["text"] += text
        return
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = marks
    nodes.append(node)


# -- ADF <-> canonical Markdown (comments) -------------------------------------------------
#
# Comments keep more than a TEXT field: inline code and code blocks too (connectors.richtext
# describes the canonical form). The plain-text conversion above does the rest; these two
# only add code, before and after it.


def adf_to_markdown(document: Any) -> str:
    """Canonical Markdown of an ADF comment body: the plain-text form, plus inline code in
    backticks and code blocks fenced (with their language)."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        raise TypeError(f"not an ADF document: {type(document).__name__}")
    return adf_to_text(_code_as_text(document)) or ""


def _code_as_text(node: Node) -> Node:
    """A copy of the tree where code reads as Markdown text: a code mark as backticks, a
    code block as one paragraph holding its fenced text."""
    kind = node.get("type")
    if kind == "codeBlock":
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        language = str(attrs.get("language") or "")
        code = "".join(str(c.get("text") or "") for c in _children(node))
        fenced = f"{FENCE}{language}\n{code}\n{FENCE}"
        return {"type": "paragraph", "content": [{"type": "text", "text": fenced}]}
    if kind == "text":
        marks = [m for m in node.get("marks") or [] if isinstance(m, dict)]
        if any(m.get("type") == "code" for m in marks):
            kept = [m for m in marks if m.get("type") != "code"]
            text = f"`{node.get('text') or ''}`"
            return {"type": "text", "text": text, **({"marks": kept} if kept else {})}
        return node
    children = node.get("content")
    if not isinstance(children, list):
        return node
    return {
        **node,
        "content": [_code_as_text(c) if isinstance(c, dict) else c for c in children],
    }


def markdown_to_adf(text: str) -> Node:
    """An ADF document for canonical Markdown: fenced code becomes a codeBlock, backticks a
    code mark, the rest as text_to_adf reads it."""
    content: list[Node] = []
    for kind, language, segment in split_fences(text):
        if kind == "code":
            block: Node = {"type": "codeBlock", "content": []}
            if language:
                block["attrs"] = {"language": language}
            if segment:
                block["content"].append({"type": "text", "text": segment})
            content.append(block)
            continue
        document = text_to_adf(segment) or {"content": []}
        content.extend(_marked_code(n) for n in document["content"])
    return {"type": "doc", "version": 1, "content": content}


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def _marked_code(node: Node) -> Node:
    """Split text nodes (not links) at backtick spans into code-marked text nodes."""
    children = node.get("content")
    if not isinstance(children, list):
        return node
    out: list[Node] = []
    for child in children:
        if child.get("type") != "text" or child.get("marks") or "`" not in child["text"]:
            out.append(_marked_code(child))
            continue
        position = 0
        for match in _CODE_SPAN.finditer(child["text"]):
            _text(out, child["text"][position : match.start()])
            out.append({"type": "text", "text": match[1], "marks": [{"type": "code"}]})
            position = match.end()
        _text(out, child["text"][position:])
    return {**node, "content": out}
