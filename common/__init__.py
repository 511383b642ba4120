"""The shared async transport core and the common event types.

Everything public is re-exported here; the underscore modules are private.
"""

from ._auth import Auth, BasicAuth, BearerAuth, HeaderAuth, NoAuth
from ._client import BaseClient
from ._decode import (
    Decoder,
    ModelConverter,
    camel_case,
    make_converter,
    parse_date,
    parse_datetime,
    parse_time,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TruncationWarning,
    ValidationError,
)
from ._page import Page, resume_from
from ._ratelimit import RateLimiter
from ._retry import (
    Failure,
    RetryPolicy,
    backoff_delay,
    is_retryable,
    parse_retry_after,
    retry_delay,
)
from ._transport import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, Response, Transport
from ._url import build_path, validate_base_url
from ._validate import (
    check_country,
    check_date,
    check_email,
    check_enum,
    check_int,
    check_number,
    check_text,
    check_time,
    check_timezone,
    check_uri,
)

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Auth",
    "AuthenticationError",
    "BadRequestError",
    "BaseClient",
    "BasicAuth",
    "BearerAuth",
    "ConflictError",
    "DecodeError",
    "Decoder",
    "Failure",
    "HeaderAuth",
    "InvalidRequestError",
    "ModelConverter",
    "NoAuth",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "Response",
    "RetryPolicy",
    "ServerError",
    "Transport",
    "TruncationWarning",
    "ValidationError",
    "backoff_delay",
    "build_path",
    "check_country",
    "check_date",
    "check_email",
    "check_enum",
    "check_int",
    "check_number",
    "check_text",
    "check_time",
    "check_timezone",
    "check_uri",
    "camel_case",
    "is_retryable",
    "make_converter",
    "parse_date",
    "parse_datetime",
    "parse_retry_after",
    "parse_time",
    "resume_from",
    "retry_delay",
    "validate_base_url",
]
