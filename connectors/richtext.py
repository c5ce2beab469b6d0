"""Canonical rich text for comments: a small Markdown subset, to and from HTML.

Every connector converts its system's comment format to this form and back, so a comment
crosses any pair of systems with one conversion on each side (Jira's ADF in
connectors/jira/adf.py, Zendesk's HTML here, GitHub's Markdown as it is, Redmine's Textile
in connectors/redmine/textile.py). The subset is what every one of those systems can show:

- paragraphs separated by a blank line; a single newline inside a paragraph is a line break;
- bullet lists ("- item") and ordered lists ("1. item"), nested by two spaces per level;
- links `[text](url)`, or the bare URL when the text is the URL;
- inline code in backticks, code blocks fenced by three backticks (a language after the
  opening fence is kept);
- mentions as plain "@Name" text (no system's user ids mean anything in another system).

Bold, italic, headings, tables and images are kept as their text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

FENCE = "```"
BULLET = re.compile(r"^(?P<indent> *)[-*] (?P<text>.*)$")
ORDERED = re.compile(r"^(?P<indent> *)(?P<number>\d{1,9})\. (?P<text>.*)$")
INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\[\]\n]+)\]\((?P<href>(?:https?://|mailto:)[^\s()]+)\)"
    r"|(?P<bare>https?://[^\s<>()\[\]`]+)"
)
_TRAILING = ".,;:!?'\""


def split_fences(text: str) -> list[tuple[str, str, str]]:
    """The text as ("text", "", content) and ("code", language, code) segments."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[tuple[str, str, str]] = []
    plain: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(FENCE):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == FENCE), None)
            if end is not None:
                if plain:
                    out.append(("text", "", "\n".join(plain)))
                    plain = []
                out.append(("code", stripped[3:].strip(), "\n".join(lines[i + 1 : end])))
                i = end + 1
                continue
        plain.append(lines[i])
        i += 1
    if plain:
        out.append(("text", "", "\n".join(plain)))
    return out


def map_plain(text: str, change: Callable[[str], str]) -> str:
    """The text with `change` applied to its plain parts only: code blocks, inline code,
    links and bare URLs are kept as they are (line endings become "\\n")."""
    parts: list[str] = []
    for kind, language, content in split_fences(text):
        if kind == "code":
            parts.append(f"{FENCE}{language}\n{content}\n{FENCE}")
            continue
        out: list[str] = []
        position = 0
        for match in INLINE.finditer(content):
            out.append(change(content[position : match.start()]))
            out.append(match.group(0))
            position = match.end()
        out.append(change(content[position:]))
        parts.append("".join(out))
    return "\n".join(parts)


# "@name" where GitHub and Redmine would read a mention of one of their users: after the
# start or a character that cannot be part of a name, an address or a path.
_MENTION = re.compile(r"(?<![\w@./\\`])@(?=[A-Za-z0-9_])")
_INERT = "@\u200b"  # a zero-width space after the @: shown the same, mentions nobody


def mentions_inert(text: str) -> str:
    """Canonical Markdown for a system that notifies "@login" mentions (GitHub, Redmine):
    a zero-width space after each mention's @, so a copied "@Bo Chen" notifies no user of
    that system who happens to be called Bo. Code, links and URLs are left as they are."""
    return map_plain(text, lambda plain: _MENTION.sub(_INERT, plain))


def mentions_restored(text: str) -> str:
    """The reverse of mentions_inert: the zero-width spaces it added are taken out."""
    return text.replace(_INERT, "@")


# -- Markdown -> HTML ----------------------------------------------------------------------


def markdown_to_html(text: str) -> str:
    """HTML for canonical Markdown (see the module docstring)."""
    parts: list[str] = []
    for kind, language, content in split_fences(text):
        if kind == "code":
            attr = f' class="language-{html.escape(language)}"' if language else ""
            parts.append(f"<pre><code{attr}>{html.escape(content)}</code></pre>")
            continue
        for block in text_blocks(content):
            parts.append(_block_html(block))
    return "".join(parts)


def text_blocks(text: str) -> list[list[str]]:
    """The text's lines grouped into blocks separated by blank lines (any line ending)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _marker(line: str) -> tuple[int, str, int, str] | None:
    match = BULLET.match(line)
    if match:
        return len(match["indent"]), "ul", 1, match["text"]
    match = ORDERED.match(line)
    if match:
        return len(match["indent"]), "ol", int(match["number"]), match["text"]
    return None


def _block_html(lines: list[str]) -> str:
    out: list[str] = []
    paragraph: list[str] = []
    i = 0
    while i < len(lines):
        if _marker(lines[i]) is None:
            paragraph.append(lines[i].strip())
            i += 1
            continue
        if paragraph:
            out.append("<p>" + "<br>".join(inline_html(p) for p in paragraph) + "</p>")
            paragraph = []
        rendered, i = _list_html(lines, i)
        out.append(rendered)
    if paragraph:
        out.append("<p>" + "<br>".join(inline_html(p) for p in paragraph) + "</p>")
    return "".join(out)


def _list_html(lines: list[str], start: int) -> tuple[str, int]:
    first = _marker(lines[start])
    assert first is not None
    indent, tag, number, _ = first
    items: list[str] = []
    i = start
    while i < len(lines):
        marker = _marker(lines[i])
        line_indent = len(lines[i]) - len(lines[i].lstrip(" "))
        if marker is not None and marker[0] == indent and marker[1] == tag:
            items.append(inline_html(marker[3]))
            i += 1
        elif marker is not None and marker[0] > indent and items:
            nested, i = _list_html(lines, i)
            items[-1] += nested
        elif marker is None and line_indent > indent and items:
            items[-1] += "<br>" + inline_html(lines[i].strip())
            i += 1
        else:
            break
    start_attr = f' start="{number}"' if tag == "ol" and number != 1 else ""
    body = "".join(f"<li>{item}</li>" for item in items)
    return f"<{tag}{start_attr}>{body}</{tag}>", i


def inline_html(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()], quote=False))
        end = match.end()
        if match["code"] is not None:
            out.append(f"<code>{html.escape(match['code'], quote=False)}</code>")
        elif match["bare"]:
            href = match["bare"].rstrip(_TRAILING)
            end = match.start() + len(href)
            out.append(f'<a href="{html.escape(href)}">{html.escape(href, quote=False)}</a>')
        else:
            out.append(
                f'<a href="{html.escape(match["href"])}">'
                f"{html.escape(match['label'], quote=False)}</a>"
            )
        position = end
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)


# -- HTML -> Markdown ----------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "tr", "section"}
)


class _ToMarkdown(HTMLParser):
    """Collects blocks of Markdown from HTML; unknown tags keep their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.line: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [is_ordered, next number]
        self.list_lines: list[str] = []
        self.pre: list[str] | None = None
        self.pre_language = ""
        self.code = False
        self.link: tuple[str, list[str]] | None = None

    # blocks
    def _flush_line(self) -> None:
        text = "".join(self.line)
        self.line = []
        if self.lists:
            if text.strip():
                depth = len(self.lists) - 1
                self.list_lines.append("  " * depth + text.strip())
            return
        paragraph = "\n".join(part.strip() for part in text.split("\n")).strip()
        if paragraph:
            self.blocks.append(paragraph)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.pre is not None:
            css = values.get("class") or ""
            if tag == "code" and css.startswith("language-"):
                self.pre_language = css.removeprefix("language-").split()[0]
            return
        if tag == "pre":
            self._flush_line()
            self.pre = []
            return
        if tag == "code":
            self.code = True
            self.line.append("`")
        elif tag == "br":
            self.line.append("\n")
        elif tag in ("ul", "ol"):
            self._flush_line()
            start = values.get("start")
            number = int(start) if start and start.isdigit() else 1
            self.lists.append([1 if tag == "ol" else 0, number])
        elif tag == "li" and self.lists:
            self._flush_line()
            ordered, number = self.lists[-1]
            self.line.append(f"{number}. " if ordered else "- ")
            self.lists[-1][1] += 1
        elif tag == "a":
            self.link = (values.get("href") or "", [])
        elif tag in _BLOCK_TAGS:
            self._flush_line()

    def handle_endtag(self, tag: str) -> None:
        if self.pre is not None:
            if tag == "pre":
                code = "".join(self.pre).strip("\n")
                self.blocks.append(f"{FENCE}{self.pre_language}\n{code}\n{FENCE}")
                self.pre = None
                self.pre_language = ""
            return
        if tag == "code" and self.code:
            self.code = False
            self.line.append("`")
        elif tag == "a" and self.link is not None:
            href, parts = self.link
            self.link = None
            label = "".join(parts)
            if href.startswith(("http://", "https://", "mailto:")) and label != href:
                self.line.append(f"[{label}]({href})")
            else:
                self.line.append(label or href)
        elif tag == "li":
            self._flush_line()
        elif tag in ("ul", "ol") and self.lists:
            self._flush_line()
            self.lists.pop()
            if not self.lists and self.list_lines:
                self.blocks.append("\n".join(self.list_lines))
                self.list_lines = []
        elif tag in _BLOCK_TAGS:
            self._flush_line()

    def handle_data(self, data: str) -> None:
        if self.pre is not None:
            self.pre.append(data)
            return
        if not self.code:
            data = re.sub(r"[ \t\r\n]+", " ", data)
        if self.link is not None:
            self.link[1].append(data)
        else:
            self.line.append(data)

    def result(self) -> str:
        self._flush_line()
        if self.list_lines:
            self.blocks.append("\n".join(self.list_lines))
        return "\n\n".join(b for b in self.blocks if b.strip())


def html_to_markdown(markup: str) -> str:
    """Canonical Markdown for HTML (see the module docstring); never raises on bad HTML."""
    parser = _ToMarkdown()
    parser.feed(markup or "")
    parser.close()
    return parser.result()
