"""Journaled outbound HTTP.

The host sends the request, journals the response and only then returns
it; a replay returns the recorded response and sends nothing. A request
may reach the server more than once (a crash while it is in flight re-sends
it), so each carries ``idempotency-key: <workflow id>/<seq>`` unless it
sets that header itself. Destinations are refused unless the operator
allows them (``duro serve --allow-http``). Redirects are not followed.

Example::

    from duro_sdk import http, RetryPolicy

    response = http.get("http://shop/catalog/sku-1", retry=RetryPolicy(maximum_attempts=5))
    if response.ok:
        item = response.json()
"""

import json as _json
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import http as wit_http

from ._duration import Duration, to_ms
from .retry import RetryPolicy

Headers = Union[Mapping[str, Union[str, bytes]], Sequence[Tuple[str, Union[str, bytes]]]]
"""Request headers: a mapping, or ``(name, value)`` pairs when a name repeats."""


class HttpError(Exception):
    """No response came back.

    Attributes:
        kind: ``denied`` (not in the allowlist; nothing was sent),
            ``timeout``, ``connection``, ``too-large`` (the request is over
            a cap; nothing was sent), ``invalid-request`` or
            ``response-too-large``.
        message: What happened.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Response:
    """A response, whatever its status.

    Attributes:
        status: The status code.
        headers: ``(name, value)`` pairs in the order received.
        body: The whole body.
    """

    status: int
    headers: List[Tuple[str, bytes]]
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (any case), or ``None``."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("utf-8", "replace")
        return None

    def text(self) -> str:
        """The body as UTF-8 text (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body decoded from JSON; raises ``ValueError`` if it is not JSON."""
        return _json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    headers: Optional[Headers] = None,
    body: Union[bytes, str, None] = None,
    json: Any = None,
    timeout: Optional[Duration] = None,
    retry: Optional[RetryPolicy] = None,
) -> Response:
    """Sends one request and returns the response, whatever its status.

    Args:
        method: ``GET``, ``POST``, …
        url: An absolute ``http`` or ``https`` URL, without credentials.
        headers: Request headers.
        body: The body, bytes or text (UTF-8).
        json: A value sent as the JSON body, with ``content-type:
            application/json`` unless ``headers`` set one. Not with ``body``.
        timeout: Longest wait for one attempt (seconds or a ``timedelta``);
            the host's cap (60 s by default) is the default and the maximum.
        retry: Retry connection errors, timeouts, 5xx and 429 under this
            policy; the response is the last attempt's. Without one, the
            first answer is final.

    Raises :class:`HttpError` when no response came back.
    """
    pairs = [(name, value.encode() if isinstance(value, str) else value) for name, value in _pairs(headers)]
    if json is not None:
        if body is not None:
            raise ValueError("pass body or json, not both")
        body = _json.dumps(json, allow_nan=False)
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("content-type", b"application/json"))
    wit_request = wit_http.Request(
        method=method,
        url=url,
        headers=pairs,
        body=body.encode() if isinstance(body, str) else body,
        timeout_ms=to_ms(timeout) if timeout is not None else None,
    )
    try:
        response = wit_http.send(wit_request, retry._to_wit() if retry is not None else None)
    except Err as error:
        raise HttpError(_KINDS[type(error.value)], error.value.value) from None
    return Response(response.status, list(response.headers), bytes(response.body))


def get(url: str, **options: Any) -> Response:
    """``request("GET", url, ...)``."""
    return request("GET", url, **options)


def post(url: str, **options: Any) -> Response:
    """``request("POST", url, ...)``."""
    return request("POST", url, **options)


def _pairs(headers: Optional[Headers]) -> List[Tuple[str, Union[str, bytes]]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


_KINDS = {
    wit_http.Error_Denied: "denied",
    wit_http.Error_Timeout: "timeout",
    wit_http.Error_Connection: "connection",
    wit_http.Error_TooLarge: "too-large",
    wit_http.Error_InvalidRequest: "invalid-request",
    wit_http.Error_ResponseTooLarge: "response-too-large",
}
