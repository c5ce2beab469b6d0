"""Redmine's Textile <-> canonical Markdown (connectors.redmine.textile), as Redmine 5.0
renders it (checked against the real server's preview; see the module docstring)."""

from __future__ import annotations

from connectors.redmine.textile import markdown_to_textile, textile_to_markdown
from tests.connectors.test_contract import RICH_COMMENT


def test_the_contract_comment_becomes_textile_and_comes_back_unchanged() -> None:
    written = markdown_to_textile(RICH_COMMENT)
    assert written == (
        "Ann Lee on 3 Dec 2026, 14:02 (Zendesk):\n\n"
        'Hello @\u200bBo Chen, see "the runbook":https://docs.example.com/run and '
        "<code>restart()</code>.\nA second line.\n\n"
        "* check the tray\n* then:\n** restart\n\n"
        "<pre>\ndef f():\n    return 1 < 2\n</pre>"
    )
    assert textile_to_markdown(written) == RICH_COMMENT


def test_ordered_lists_code_with_a_language_and_at_signs() -> None:
    text = (
        "1. one\n2. two\n  - sub\n\nsee `a<b @x`, mail ops@example.com\n\n```python\nx = 1 < 2\n```"
    )
    written = markdown_to_textile(text)
    assert written == (
        "# one\n# two\n#* sub\n\nsee <code>a<b @x</code>, mail ops@example.com\n\n"
        '<pre><code class="python">\nx = 1 < 2\n</code></pre>'
    )
    assert textile_to_markdown(written) == text


def test_notes_people_typed_in_redmine_read_as_canonical_markdown() -> None:
    typed = (
        "h3. Findings\r\n\r\n"
        'Run @make test@ first, then see "the docs(manual)":https://docs.example.com/a.\r\n\r\n'
        "* one\r\n** two\r\n*# three\r\n*# four\r\n# first\r\n\r\n"
        "bc. raw code\r\n\r\n"
        "Thanks @sam"
    )
    assert textile_to_markdown(typed) == (
        "Findings\n\n"
        "Run `make test` first, then see [the docs](https://docs.example.com/a).\n\n"
        "- one\n  - two\n  1. three\n  2. four\n1. first\n\n"
        "```\nraw code\n```\n\n"
        "Thanks @sam"
    )


def test_a_markdown_heading_is_a_textile_heading_not_a_numbered_list() -> None:
    written = markdown_to_textile("## Steps\n\n1. Open the page\n\n#hashtag stays")
    assert written == "h2. Steps\n\n# Open the page\n\n#hashtag stays"
    assert textile_to_markdown(written) == "Steps\n\n1. Open the page\n\n#hashtag stays"
