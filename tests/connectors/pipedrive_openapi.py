"""Pipedrive traffic validated against Pipedrive's own OpenAPI descriptions, v1 and v2
(tests/connectors/openapi_traffic.py does the work; this names the specs, where the sandbox
serves each version, and the corrections to the descriptions).

The sandbox serves https://api.pipedrive.com/v1/... under /pipedrive/v1/... and
https://api.pipedrive.com/api/v2/... under /pipedrive/api/v2/...; each spec's `strip`
removes its version segment, so recorded paths are the spec's paths.

Corrections: where the published description contradicts itself or the documented
behaviour, the loaded document is corrected before validation. Each correction is listed
in CORRECTIONS with the reason; everything else is validated as published.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI

from tests.connectors.openapi_traffic import (
    Exchange,
    TrafficRecorder,
    VendorSpec,
    assert_valid,
    vendor_specs_dir,
)


def _api_token(headers: dict[str, str]) -> str | None:
    """The `api_key` scheme: the token in the `x-api-token` header (never the query)."""
    if headers.get("x-api-token"):
        return None
    return "request without the x-api-token header"


@dataclass(frozen=True)
class Correction:
    """One change to the published description: at `where` (keys from the document's
    root), the keys of `values` are set; `why` says what is wrong with the original."""

    where: tuple[str, ...]
    values: tuple[tuple[str, Any], ...]
    why: str


@dataclass(frozen=True)
class CorrectedSpec(VendorSpec):
    corrections: tuple[Correction, ...] = ()

    def document(self) -> dict[str, Any]:
        return _corrected(self)

    def openapi(self) -> OpenAPI:
        return _openapi(self)


_documents: dict[str, dict[str, Any]] = {}
_validators: dict[str, OpenAPI] = {}


def _corrected(spec: CorrectedSpec) -> dict[str, Any]:
    """The published document with the corrections applied (once per process)."""
    if spec.name not in _documents:
        document = copy.deepcopy(VendorSpec.document(spec))
        for correction in spec.corrections:
            node: Any = document
            for key in correction.where:
                node = node[int(key)] if isinstance(node, list) else node[key]
            node.update(dict(correction.values))
        _documents[spec.name] = document
    return _documents[spec.name]


def _openapi(spec: CorrectedSpec) -> OpenAPI:
    if spec.name not in _validators:
        _validators[spec.name] = OpenAPI.from_dict(
            _corrected(spec), config=Config(spec_validator_cls=None)
        )
    return _validators[spec.name]


FOLDER = vendor_specs_dir() / "pipedrive"
_JSON = ("content", "application/json", "schema")


def _listing(path: str) -> tuple[str, ...]:
    """Where a v2 listing's `additional_data.next_cursor` is described."""
    return ("paths", path, "get", "responses", "200", *_JSON, "allOf", "1", "properties",
            "additional_data", "properties", "next_cursor")  # fmt: skip


V2_CORRECTIONS: tuple[Correction, ...] = (
    *(
        Correction(
            ("paths", path, "post", "requestBody", *_JSON),
            (("required", ["name"]),),
            f"POST {path} requires `title`, a property its schema does not define (the deals'"
            ' required field, copied); what a create needs is the `name` ("Name must be'
            ' given" otherwise)',
        )
        for path in ("/persons", "/organizations")
    ),
    *(
        Correction(
            _listing(path),
            (("nullable", True),),
            f'GET {path}: the description of `next_cursor` says it "will be `null` if you'
            ' have reached the end", but its schema is a non-nullable string',
        )
        for path in ("/persons", "/organizations", "/persons/search", "/organizations/search")
    ),
)
V1_CORRECTIONS: tuple[Correction, ...] = ()

PIPEDRIVE_V1 = CorrectedSpec(
    name="Pipedrive API v1",
    path=Path(FOLDER / "pipedrive-openapi-v1.yaml"),
    prefix="/pipedrive",
    server="https://api.pipedrive.com/v1",
    auth_problem=_api_token,
    strip="/v1",
    corrections=V1_CORRECTIONS,
)
PIPEDRIVE_V2 = CorrectedSpec(
    name="Pipedrive API v2",
    path=Path(FOLDER / "pipedrive-openapi-v2.yaml"),
    prefix="/pipedrive",
    server="https://api.pipedrive.com/api/v2",
    auth_problem=_api_token,
    strip="/api/v2",
    corrections=V2_CORRECTIONS,
)
SPECS = (PIPEDRIVE_V1, PIPEDRIVE_V2)


class PipedriveV1Recorder(TrafficRecorder):
    spec = PIPEDRIVE_V1


class PipedriveV2Recorder(TrafficRecorder):
    spec = PIPEDRIVE_V2


class PipedriveTraffic:
    """Both versions' recorders in front of one sandbox server."""

    def __init__(self, server: Any) -> None:
        self.v1 = PipedriveV1Recorder.install(server)
        self.v2 = PipedriveV2Recorder.install(server)
        # Statuses a test provokes on purpose that the descriptions do not document.
        self.expected_undocumented: set[int] = set()

    def uninstall(self) -> None:
        self.v2.uninstall()  # installed last, in front
        self.v1.uninstall()

    def pairs(self) -> Iterator[tuple[CorrectedSpec, list[Exchange]]]:
        yield PIPEDRIVE_V1, self.v1.exchanges
        yield PIPEDRIVE_V2, self.v2.exchanges

    @property
    def exchanges(self) -> list[Exchange]:
        return [*self.v1.exchanges, *self.v2.exchanges]

    def validate(self) -> None:
        for spec, exchanges in self.pairs():
            assert_valid(spec, exchanges, self.expected_undocumented)
