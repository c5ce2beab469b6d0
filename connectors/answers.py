"""Reading a system's answers defensively: their shape, and paging that must end.

Every connector parses what its system answers and follows its paging. Two things can go
wrong there that no HTTP status reveals, and both used to surface badly:

- An answer of the wrong shape (a record without its `id`, a list that is an object) ended
  the run as "internal error: KeyError('id')". `items()` and `need()` check what a
  connector is about to read and raise UnexpectedAnswer naming the system, the call and
  the field ("HubSpot POST /crm/v3/objects/contacts/search: results[0] has no 'id'").
- A system that answers empty pages with a "next" link forever, or hands back a cursor it
  gave before, kept a run calling it until the task's time limit, and nothing could stop it
  because the engine checks for cancellation only between stored pages. `PageGuard`
  watches one paging loop: it raises EndlessPaging on a repeated position or on
  MAX_EMPTY_PAGES empty pages in a row that say more follow, and calls the connector's
  `interrupt` hook on every page, through which the caller may stop the loop (a run
  being cancelled raises from there).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from connectors.errors import EndlessPaging, UnexpectedAnswer

# Empty pages in a row, each saying more follow, after which a loop is taken as endless.
# Real systems answer an empty page with a next link now and then (a filtered page, records
# deleted meanwhile), never dozens in a row.
MAX_EMPTY_PAGES = 50

Interrupt = Callable[[], None]
_KINDS = {str: "text", int: "a number", list: "a list", dict: "an object", bool: "true or false"}


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    options = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(_KINDS.get(k, k.__name__) for k in options)


def _is(value: Any, kinds: type | tuple[type, ...]) -> bool:
    options = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in options:
        return False  # True is an int to Python, never an id or a count to a system
    return isinstance(value, options)


def need(
    obj: Any,
    key: str,
    kinds: type | tuple[type, ...],
    *,
    system: str,
    call: str,
    where: str = "",
    optional: bool = False,
) -> Any:
    """`obj[key]`, checked to be of `kinds`; UnexpectedAnswer naming the field if it is
    missing or of another type. `where` is the path of `obj` in the answer ("results[2]").
    With `optional`, a missing key or a null reads as None."""
    path = f"{where}.{key}" if where else key
    if not isinstance(obj, Mapping):
        raise UnexpectedAnswer(
            f"expected an object at {where or 'the top of the answer'}, got {type(obj).__name__}",
            field=where,
            system=system,
            call=call,
        )
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise UnexpectedAnswer(f"the answer has no {path!r}", field=path, system=system, call=call)
    value = obj[key]
    if not _is(value, kinds):
        raise UnexpectedAnswer(
            f"the answer's {path!r} is {type(value).__name__}, expected {_kind_name(kinds)}",
            field=path,
            system=system,
            call=call,
        )
    return value


def items(
    data: Any,
    key: str,
    *,
    system: str,
    call: str,
    required: Mapping[str, type | tuple[type, ...]] | None = None,
) -> list[dict[str, Any]]:
    """The objects listed under `data[key]` (none when it is missing or null), each checked
    to hold the `required` fields (by default an `id`, text or a number)."""
    listed = need(data, key, list, system=system, call=call, optional=True) or []
    wanted = {"id": (str, int)} if required is None else required
    for index, item in enumerate(listed):
        where = f"{key}[{index}]"
        if not isinstance(item, Mapping):
            raise UnexpectedAnswer(
                f"the answer's {where!r} is {type(item).__name__}, expected an object",
                field=where,
                system=system,
                call=call,
            )
        for name, kinds in wanted.items():
            need(item, name, kinds, system=system, call=call, where=where)
    return listed


class PageGuard:
    """Watches one paging loop of one call; see the module docstring.

    Call `page(count, next_position)` once per page answered: `count` is how many items it
    held, `next_position` what the loop asks for next (a cursor, link, token or offset; any
    JSON), or None when the loop ends. `start` is the position of the first request.
    """

    def __init__(
        self,
        system: str,
        call: str,
        *,
        start: Any = None,
        interrupt: Interrupt | None = None,
        max_empty: int = MAX_EMPTY_PAGES,
    ) -> None:
        self.system = system
        self.call = call
        self.interrupt = interrupt
        self.max_empty = max_empty
        self.pages = 0
        self._empty = 0
        self._seen: set[bytes] = set()
        if start is not None:
            self._seen.add(_digest(start))

    def page(self, count: int, next_position: Any) -> None:
        self.pages += 1
        if self.interrupt is not None:
            self.interrupt()
        if next_position is None:
            return
        digest = _digest(next_position)
        if digest in self._seen:
            raise EndlessPaging(
                f"gave the same page cursor twice ({_short(next_position)}) after "
                f"{self.pages} page(s); following it would loop forever",
                system=self.system,
                call=self.call,
            )
        self._seen.add(digest)
        self._empty = self._empty + 1 if count == 0 else 0
        if self._empty >= self.max_empty:
            raise EndlessPaging(
                f"answered {self._empty} empty pages in a row, each saying more follow; "
                "stopped following them",
                system=self.system,
                call=self.call,
            )


def _digest(position: Any) -> bytes:
    text = json.dumps(position, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _short(position: Any) -> str:
    text = json.dumps(position, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:79] + "…"
