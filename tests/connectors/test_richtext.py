"""Canonical rich text (connectors.richtext): the helpers connectors share."""

from __future__ import annotations

from connectors.richtext import map_plain, mentions_inert, mentions_restored

TEXT = """Hi @Bo Chen (@ann_lee), mail ops@example.com, see https://x.example/@me,
`@code` and [@label](https://a.example/@x).

```py
@decorator
```"""


def test_mentions_are_made_inert_only_in_plain_text_and_restored_exactly() -> None:
    inert = mentions_inert(TEXT)
    assert inert.splitlines()[0] == (
        "Hi @\u200bBo Chen (@\u200bann_lee), mail ops@example.com, see https://x.example/@me,"
    )
    assert "`@code` and [@label](https://a.example/@x)." in inert
    assert "\n@decorator\n" in inert
    assert mentions_restored(inert) == TEXT


def test_map_plain_leaves_code_links_and_urls_alone() -> None:
    assert map_plain(TEXT, str.upper) == (
        "HI @BO CHEN (@ANN_LEE), MAIL OPS@EXAMPLE.COM, SEE https://x.example/@me,\n"
        "`@code` AND [@label](https://a.example/@x).\n\n```py\n@decorator\n```"
    )
