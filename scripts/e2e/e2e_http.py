"""Raw HTTP for the end-to-end suite: SSE parsing, an http.client wrapper that validates every response,
and a recording transport that lets the official openai client's responses be validated too."""

from __future__ import annotations

import http.client as httplib
import json
import zlib
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

from e2e_schemas import SchemaChecker, SchemaError
from e2e_sse import SSEEvent, parse_sse
from e2e_settings import TIMEOUT, httpx

# --- Raw HTTP ------------------------------------------------------------------------------------


def decode_content(body: bytes, encoding: str) -> bytes:
    """Undoes a Content-Encoding (gzip or deflate; what the clients here offer)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, wbits=-zlib.MAX_WBITS)
    raise SchemaError(f"unexpected Content-Encoding {encoding!r}")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    method: str = ""
    path: str = ""
    raw_body: bytes = b""  # on the wire; `body` has any Content-Encoding undone

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.header("Content-Type") or ""

    def events(self) -> list[SSEEvent]:
        return parse_sse(self.body)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status} {self.body[:500]!r}>"


class RawHTTP:
    """http.client wrapper: any method, any bytes, every response validated against the schemas."""

    def __init__(self, server_url: str, schemas: SchemaChecker, api_key: str | None) -> None:
        parts = urlsplit(server_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.schemas = schemas
        self.api_key = api_key

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool = True,
        validate: bool = True,
        timeout: float = TIMEOUT,
    ) -> Response:
        send_headers: dict[str, str] = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        if auth and self.api_key:
            send_headers["Authorization"] = f"Bearer {self.api_key}"
        send_headers.update(headers or {})
        conn = httplib.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=send_headers)
            resp = conn.getresponse()
            data = resp.read()
            result = Response(resp.status, resp.getheaders(), data, method, path)
            result.raw_body = data
            result.body = decode_content(data, result.header("Content-Encoding") or "")
        finally:
            conn.close()
        if validate:
            self.schemas.check_response(method, path, result.status, result.content_type, result.body)
        return result

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)


def assert_error(resp: Response, status: int, param: Any = ..., code: Any = ...) -> dict:
    """Asserts an OpenAI-shaped error with this status (and param/code when given)."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert (resp.content_type or "").startswith("application/json"), resp.headers
    payload = resp.json()
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["type"], str) and error["type"], error
    if param is not ...:
        if callable(param):
            assert param(error["param"]), f"unexpected param {error['param']!r}: {error}"
        else:
            assert error["param"] == param, f"expected param {param!r}: {error}"
    if code is not ...:
        assert error["code"] == code, f"expected code {code!r}: {error}"
    return error


# --- Recording transport for the openai client -------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    content_type: str
    content_encoding: str = ""
    body: bytes = b""  # as received on the wire (before any Content-Encoding is undone)
    complete: bool = False

    def decoded_body(self) -> bytes:
        return decode_content(self.body, self.content_encoding)


class _TeeStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner, self._exchange, self._chunks = inner, exchange, []

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._exchange.complete = True

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._exchange.body = b"".join(self._chunks)


class _AsyncTeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner, self._exchange, self._chunks = inner, exchange, []

    async def __aiter__(self):
        async for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._exchange.complete = True

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._exchange.body = b"".join(self._chunks)


class Recorder:
    """Keeps every response the openai client receives, to validate them after each test."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def _record(self, request: Any, response: Any) -> Exchange:
        ex = Exchange(
            request.method,
            request.url.raw_path.decode("ascii"),
            response.status_code,
            response.headers.get("content-type", ""),
            response.headers.get("content-encoding", ""),
        )
        self.exchanges.append(ex)
        return ex

    def transport(self) -> httpx.BaseTransport:
        recorder = self

        class Transport(httpx.BaseTransport):
            def __init__(self) -> None:
                self._inner = httpx.HTTPTransport()

            def handle_request(self, request: Any) -> Any:
                response = self._inner.handle_request(request)
                ex = recorder._record(request, response)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    stream=_TeeStream(response.stream, ex),
                    extensions=response.extensions,
                )

            def close(self) -> None:
                self._inner.close()

        return Transport()

    def async_transport(self) -> httpx.AsyncBaseTransport:
        recorder = self

        class Transport(httpx.AsyncBaseTransport):
            def __init__(self) -> None:
                self._inner = httpx.AsyncHTTPTransport()

            async def handle_async_request(self, request: Any) -> Any:
                response = await self._inner.handle_async_request(request)
                ex = recorder._record(request, response)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    stream=_AsyncTeeStream(response.stream, ex),
                    extensions=response.extensions,
                )

            async def aclose(self) -> None:
                await self._inner.aclose()

        return Transport()

    def drain(self) -> list[Exchange]:
        out, self.exchanges = self.exchanges, []
        return out


def validate_exchanges(schemas: SchemaChecker, exchanges: list[Exchange]) -> None:
    failures = []
    for ex in exchanges:
        # A stream the test stopped reading early: parse_sse checks the events that arrived whole.
        try:
            schemas.check_response(ex.method, ex.path, ex.status, ex.content_type, ex.decoded_body())
        except SchemaError as err:
            failures.append(str(err))
    if failures:
        raise SchemaError("responses received by the openai client failed schema validation:\n"
                          + "\n".join(failures))
