"""Checking traffic against an OpenAPI description, with openapi-core (the ``testing`` extra).

Optional: a fake without a description (or with ``validate=False``) checks nothing.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import msgspec
from aiohttp import web

__all__ = ["SpecChecker", "load_spec", "resolve_validate"]


def load_spec(package: str, name: str = "openapi.json") -> dict[str, Any]:
    """The JSON description ``name`` shipped in ``package``, freshly parsed (callers may
    change it)."""
    data = importlib.resources.files(package).joinpath(name).read_bytes()
    spec: dict[str, Any] = msgspec.json.decode(data)
    return spec


_INSTALL_HINT = "pip install 'eventsync[testing]'"


def resolve_validate(validate: bool | None) -> bool:
    """Whether a fake checks traffic against its API description.

    ``None``: when openapi-core (the ``testing`` extra) is installed; ``True``: demands it and
    raises :class:`ImportError` naming the extra when missing; ``False``: never.
    """
    if validate is False:
        return False
    try:
        import openapi_core  # noqa: F401
    except ImportError as exc:
        if validate:
            raise ImportError(f"validate=True needs openapi-core: {_INSTALL_HINT}") from exc
        return False
    return True


@attrs.define
class _SpecRequest:
    """A request as openapi-core sees it, on the description's own server URL."""

    host_url: str
    method: str
    path: str
    parameters: Any
    body: bytes | None
    content_type: str


@attrs.frozen
class _SpecResponse:
    data: bytes
    status_code: int
    content_type: str
    headers: Mapping[str, str]


def _describe(error: Exception) -> dict[str, list[str]]:
    """``{field: [messages]}`` for one openapi-core request error."""
    cause = error.__cause__
    schema_errors: Iterable[Any] = getattr(cause, "schema_errors", ())
    name = getattr(error, "name", None)
    if name is not None:  # a parameter
        return {name: [getattr(e, "message", str(e)) for e in schema_errors] or [str(error)]}
    fields: dict[str, list[str]] = {}
    for schema_error in schema_errors:
        field = ".".join(str(part) for part in schema_error.path) or "body"
        fields.setdefault(field, []).append(schema_error.message)
    return fields or {"body": [str(cause or error)]}


#: The digests of the descriptions found valid in this process: checking one takes 0.12 s
#: (Intervals'), and a suite builds a fake, so a checker, for most of its tests. A memo of
#: a fact about bytes (the same description is as valid the second time), not state.
_CHECKED: set[bytes] = set()


def _digest(spec: Mapping[str, Any]) -> bytes | None:
    """A digest of the description's content (None: not JSON, checked every time)."""
    try:
        return hashlib.sha256(msgspec.json.encode(spec)).digest()
    except (TypeError, msgspec.EncodeError):
        return None


#: Results a checker keeps (the oldest goes first): a request or response checks the same
#: way every time, and openapi-core takes 2-5 ms for each, most of a fake's time (a CLI
#: test that runs one command three times, a listing read twice). Bodies are keyed by a
#: digest, so the memo holds a few megabytes at most, however large the bodies.
_MEMO_SIZE = 4096


def _body_key(data: bytes | None) -> bytes:
    return hashlib.blake2b(data or b"", digest_size=16).digest()


class SpecChecker:
    """Checks requests and responses against an OpenAPI description, with openapi-core.

    It only reports: the fake decides what to answer and records the findings in
    :attr:`FakeServer.violations`. ``check_description=False`` loads a description that is
    not strictly valid OpenAPI (RideWithGPS' own) without checking the description itself.
    """

    def __init__(self, spec: Mapping[str, Any], *, check_description: bool = True) -> None:
        """Raises :class:`ImportError` naming the ``testing`` extra without openapi-core."""
        try:
            from openapi_core import Config, OpenAPI
            from openapi_core.datatypes import RequestParameters
        except ImportError as exc:
            raise ImportError(f"spec validation needs openapi-core: {_INSTALL_HINT}") from exc
        self.spec = spec
        """The description checked against (do not change it)."""
        self._parameters = RequestParameters
        self._server = str(spec["servers"][0]["url"]).rstrip("/")
        digest = _digest(spec) if check_description else None
        checked = not check_description or digest in _CHECKED
        config = Config(spec_validator_cls=None) if checked else Config()
        self._openapi = OpenAPI.from_dict(dict(spec), config=config)
        if digest is not None:  # checked now or before (an invalid one raised above)
            _CHECKED.add(digest)
        self._memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def _remembered(
        self, key: tuple[Any, ...], check: Callable[[], tuple[Any, ...]]
    ) -> tuple[Any, ...]:
        """What ``check()`` found for ``key`` before, or finds now (and is kept)."""
        found = self._memo.get(key)
        if found is None:
            found = check()
            if len(self._memo) >= _MEMO_SIZE:
                del self._memo[next(iter(self._memo))]
            self._memo[key] = found
        return found

    @staticmethod
    def _key(request: web.Request, body: bytes, method: str | None) -> tuple[Any, ...]:
        """Everything of ``request`` that openapi-core reads."""
        return (
            method or request.method,
            str(request.rel_url),
            tuple(request.headers.items()),
            _body_key(body),
            request.content_type,
        )

    def _request(self, request: web.Request, body: bytes, method: str | None) -> _SpecRequest:
        parameters = self._parameters(
            query=request.query, header=request.headers, cookie=request.cookies
        )
        return _SpecRequest(
            host_url=self._server,
            method=(method or request.method).lower(),
            path=request.rel_url.raw_path,
            parameters=parameters,
            body=body or None,
            content_type=request.content_type,
        )

    def request_errors(
        self, request: web.Request, body: bytes, *, method: str | None = None
    ) -> dict[str, list[str]]:
        """``{field or parameter: [messages]}``, empty when ``request`` matches; ``method``
        checks it as another method's operation."""

        def check() -> tuple[tuple[str, tuple[str, ...]], ...]:
            errors: dict[str, list[str]] = {}
            for error in self._openapi.iter_request_errors(self._request(request, body, method)):
                for field, messages in _describe(error).items():
                    errors.setdefault(field, []).extend(messages)
            return tuple((field, tuple(messages)) for field, messages in errors.items())

        found = self._remembered(self._key(request, body, method), check)
        return {field: list(messages) for field, messages in found}

    def response_errors(
        self,
        request: web.Request,
        body: bytes,
        response: web.Response,
        *,
        data: bytes | None = None,
        status: int | None = None,
        method: str | None = None,
    ) -> list[str]:
        """Messages for each way ``response`` to ``request`` differs from the description.

        ``data`` and ``status`` check another body or status than the response's own (e.g.
        with documented extensions removed); ``method`` as in :meth:`request_errors`.
        """
        if data is None:
            data = response.body if isinstance(response.body, bytes) else b""
        spec_response = _SpecResponse(
            data, status or response.status, response.content_type, response.headers
        )
        key = (
            *self._key(request, body, method),
            _body_key(data),
            spec_response.status_code,
            spec_response.content_type,
            tuple(response.headers.items()),
        )

        def check() -> tuple[str, ...]:
            spec_request = self._request(request, body, method)
            return tuple(
                f"{error}" + (f" ({error.__cause__})" if error.__cause__ is not None else "")
                for error in self._openapi.iter_response_errors(spec_request, spec_response)
            )

        return list(self._remembered(key, check))
