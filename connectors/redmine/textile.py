"""Redmine's Textile <-> canonical Markdown (connectors.richtext), for journal notes.

Redmine formats notes with the server's text formatting setting (Administration, Settings,
General, Text formatting): Textile by default, or Markdown (CommonMark in 5.0). The REST API
does not say which, so the connection says it (RedmineConfig.text_formatting). For Markdown
servers the canonical Markdown is written as it is; for Textile servers it is converted:

| canonical Markdown                 | Textile written                        | also read        |
| ---------------------------------- | -------------------------------------- | ---------------- |
| paragraphs, single line breaks     | the same (Redmine breaks lines as typed) |                |
| `- item`, nested by two spaces     | `* item`, `** item`                    |                  |
| `1. item`                          | `# item`, `## item` (numbered from 1)  |                  |
| `[text](url)`                      | `"text":url`                           |                  |
| bare URL                           | the same (Redmine links it)            |                  |
| `` `code` ``                       | `<code>code</code>`                    | `@code@`         |
| fenced code (with a language)      | `<pre>` (`<pre><code class="lang">`)   | `bc. code`       |
| `@Name`                            | `@` + zero-width space + `Name`        |                  |

Redmine 5.0 notifies the user an `@login` names, so a copied mention is made inert
(richtext.mentions_inert). Inline code is written as `<code>` rather than `@...@`: a
mention's @ nearby would pair with it. An ordered list's starting number, and a line break
inside a list item, are lost (Textile has neither). A Markdown heading opening a paragraph
(`## Steps`, from GitHub) is written as `h2.` (in Textile `# ` starts a numbered list);
`h1.` to `h6.`, `p.` and `bq.` prefixes are read as their text.
"""

from __future__ import annotations

import html
import re

from connectors.richtext import (
    BULLET,
    FENCE,
    INLINE,
    ORDERED,
    mentions_inert,
    mentions_restored,
    split_fences,
    text_blocks,
)

_HEADING = re.compile(r"^(?P<marks>#{1,6})\s+(?P<text>\S.*)$")

# -- canonical Markdown -> Textile -----------------------------------------------------------


def markdown_to_textile(text: str) -> str:
    """Textile for canonical Markdown (see the module docstring)."""
    parts: list[str] = []
    for kind, language, content in split_fences(mentions_inert(text)):
        if kind == "code":
            if language:
                parts.append(
                    f'<pre><code class="{html.escape(language)}">\n{content}\n</code></pre>'
                )
            else:
                parts.append(f"<pre>\n{content}\n</pre>")
            continue
        parts.extend(_block_textile(block) for block in text_blocks(content))
    return "\n\n".join(parts)


def _block_textile(lines: list[str]) -> str:
    out: list[str] = []
    levels: list[tuple[int, str]] = []  # open list levels: (indent, "*" or "#")
    for line in lines:
        bullet, ordered = BULLET.match(line), ORDERED.match(line)
        found = bullet or ordered
        if found is None:
            heading = _HEADING.match(line)
            if levels and line.startswith(" ") and out:
                out[-1] += " " + _inline_textile(line.strip())  # Textile items are one line
            elif heading is not None and not out:  # "# x" would be a numbered list
                out.append(f"h{len(heading['marks'])}. {_inline_textile(heading['text'])}")
            else:
                levels = []
                out.append(_inline_textile(line.strip()))
            continue
        indent = len(found["indent"])
        while levels and levels[-1][0] > indent:
            levels.pop()
        char = "*" if bullet else "#"
        if levels and levels[-1][0] == indent:
            levels[-1] = (indent, char)
        else:
            levels.append((indent, char))
        prefix = "".join(c for _, c in levels)
        out.append(f"{prefix} {_inline_textile(found['text'])}")
    return "\n".join(out)


def _inline_textile(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in INLINE.finditer(text):
        out.append(text[position : match.start()])
        if match["code"] is not None:
            out.append(f"<code>{match['code']}</code>")
        elif match["bare"]:
            out.append(match["bare"])
        else:
            out.append(f'"{match["label"]}":{match["href"]}')
        position = match.end()
    out.append(text[position:])
    return "".join(out)


# -- Textile -> canonical Markdown -----------------------------------------------------------

_PRE = re.compile(
    r"<pre>\s*(?:<code(?:\s+class=\"(?P<language>[^\"]*)\")?>)?\n?(?P<code>.*?)\n?"
    r"(?:</code>\s*)?</pre>",
    re.DOTALL,
)
_BC = re.compile(r"^bc\.\s(?P<code>.*?)(?:\n\n|\Z)", re.DOTALL | re.MULTILINE)
_LIST = re.compile(r"^(?P<marks>[*#]+) (?P<text>.*)$")
_BLOCK_PREFIX = re.compile(r"^(?:h[1-6]|p|bq)\.\s+")
_INLINE_TEXTILE = re.compile(
    r"<code>(?P<code>.*?)</code>"
    r"|(?<![\w@])@(?!\u200b)(?P<at>[^@\s](?:[^@\n]*?[^@\s])?)@(?!\w)"
    r"|\"(?P<label>[^\"\n]+?)(?:\([^)\n]*\))?\":(?P<href>(?:https?://|mailto:)[^\s<>\"]+)"
)
_TRAILING = ".,;:!?'\")"


def textile_to_markdown(text: str) -> str:
    """Canonical Markdown for Textile notes (see the module docstring); never raises."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    parts: list[str] = []
    position = 0
    for match in _code_blocks(text):
        parts.extend(_text_markdown(text[position : match[0]]))
        language, code = match[2], match[3]
        parts.append(f"{FENCE}{language}\n{code}\n{FENCE}")
        position = match[1]
    parts.extend(_text_markdown(text[position:]))
    return mentions_restored("\n\n".join(p for p in parts if p.strip()))


def _code_blocks(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, language, code) of each <pre> block and `bc.` paragraph, in order."""
    found = [(m.start(), m.end(), m["language"] or "", m["code"]) for m in _PRE.finditer(text)]
    for m in _BC.finditer(text):
        if not any(start <= m.start() < end for start, end, _, _ in found):
            found.append((m.start(), m.end(), "", m["code"].rstrip("\n")))
    return sorted(found)


def _text_markdown(text: str) -> list[str]:
    blocks: list[str] = []
    for lines in text_blocks(text):
        out: list[str] = []
        counts: list[tuple[str, int]] = []  # per open level: (its marks, items so far)
        for line in lines:
            item = _LIST.match(line)
            if item is None:
                counts = []
                out.append(_inline_markdown(_BLOCK_PREFIX.sub("", line.strip())))
                continue
            marks = item["marks"]
            depth = len(marks) - 1
            del counts[depth + 1 :]
            if len(counts) == depth + 1 and counts[depth][0] != marks:
                counts.pop()  # another list at this level: its numbers start again
            while len(counts) <= depth:
                counts.append((marks, 0))
            counts[depth] = (marks, counts[depth][1] + 1)
            marker = f"{counts[depth][1]}." if marks[-1] == "#" else "-"
            out.append(f"{'  ' * depth}{marker} {_inline_markdown(item['text'].strip())}")
        blocks.append("\n".join(out))
    return blocks


def _inline_markdown(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _INLINE_TEXTILE.finditer(text):
        out.append(text[position : match.start()])
        end = match.end()
        if match["code"] is not None:
            out.append(f"`{match['code']}`")
        elif match["at"] is not None:
            out.append(f"`{match['at']}`")
        else:
            href = match["href"].rstrip(_TRAILING)
            end = match.start("href") + len(href)
            label = match["label"]
            out.append(href if label == href else f"[{label}]({href})")
        position = end
    out.append(text[position:])
    return "".join(out)
