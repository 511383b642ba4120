"""The shared async transport core and the common event types: what users need.

Errors, the common ``Event``/``Participant`` types, calendars (:func:`to_ics`), bulk
fetching, the retry policy and the client options. The building blocks for writing a
provider (the base client, the transport, decoding, checks, pagination) and the provider registry
are in :mod:`common.provider`; the fake-server machinery is in :mod:`common.testing`.
The underscore modules are private.
"""

from . import provider
from ._bulk import Result, fetch_many, merge_events
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CancelledElsewhereError,
    ClientClosedError,
    ConflictError,
    DecodeError,
    InvalidRequestError,
    MergeError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SkippedEventWarning,
    TruncationWarning,
    ValidationError,
)
from ._http import ClientErrorCause
from ._ics import to_ics
from ._options import DEFAULT_DEADLINE, CallOptions, ClientOptions, Options
from ._page import Page
from ._retry import RetryPolicy
from ._types import Event, EventSource, Location, Participant, ParticipantStatus, Provider
from .ratelimit._redis import RedisRateStore

__all__ = [
    # errors, read as the hierarchy
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "ClientClosedError",
    "CancelledElsewhereError",
    "DecodeError",
    "InvalidRequestError",
    "MissingCredentialsError",
    "MergeError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "RateLimitError",
    "ServerError",
    "ClientErrorCause",
    "TruncationWarning",
    "SkippedEventWarning",
    # the common types
    "Provider",
    "Event",
    "Location",
    "Participant",
    "ParticipantStatus",
    "EventSource",
    "Page",
    # calendars (extra ics)
    "to_ics",
    # bulk work
    "fetch_many",
    "merge_events",
    "Result",
    # options, retries, the shared rate budget
    "DEFAULT_DEADLINE",
    "Options",
    "ClientOptions",
    "CallOptions",
    "RetryPolicy",
    "RedisRateStore",
    # for provider authors
    "provider",
]
