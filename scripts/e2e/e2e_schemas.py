"""Validation of response bodies against OpenAI's published schemas and our own /openapi.json."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

from e2e_sse import parse_sse

# --- Schemas -----------------------------------------------------------------------------------


def _openapi30_to_jsonschema(node: Any) -> Any:
    """`nullable: true` (OpenAPI 3.0, still used in parts of OpenAI's spec) means "or null";
    JSON Schema ignores the keyword, so spell it out."""
    if isinstance(node, list):
        return [_openapi30_to_jsonschema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class SchemaError(AssertionError):
    pass


class SchemaChecker:
    """Validates response bodies against OpenAI's schemas and against our /openapi.json."""

    OPENAI_URI = "urn:moeserve-e2e:openai"
    OURS_URI = "urn:moeserve-e2e:ours"

    def __init__(self, openai_doc: dict, our_doc: dict) -> None:
        self.openai_doc = _openapi30_to_jsonschema(openai_doc)
        # OpenAI describes streamed legacy completions with the same schema as the full response
        # ("both the streamed and non-streamed response objects share the same shape"), but its
        # `finish_reason` is a non-null string there, which no chunk before the last can satisfy
        # (OpenAI's API itself sends null). So stream chunks get a copy that also allows null
        # there, and nothing else changed.
        oa = self.openai_doc["components"]["schemas"]
        # Its legacy logprobs have number items in `token_logprobs` and object items in `top_logprobs`, but with
        # `echo` the legacy API gives the prompt's first token null in both (nothing comes before it), as vLLM
        # does, and as clients that score prompts expect. Both allow null there, nothing else changed.
        legacy = oa["CreateCompletionResponse"]["properties"]["choices"]["items"]["properties"]["logprobs"]
        for variant in legacy.get("anyOf", [legacy]):
            for key in ("token_logprobs", "top_logprobs"):
                field = variant.get("properties", {}).get(key)
                if field and "items" in field:
                    field["items"] = {"anyOf": [field["items"], {"type": "null"}]}
        chunk = copy.deepcopy(oa["CreateCompletionResponse"])
        finish = chunk["properties"]["choices"]["items"]["properties"]["finish_reason"]
        chunk["properties"]["choices"]["items"]["properties"]["finish_reason"] = {
            "anyOf": [finish, {"type": "null"}]
        }
        oa["CreateCompletionResponseStreamed"] = chunk
        self.our_doc = our_doc
        self.registry = referencing.Registry().with_resources(
            [
                (self.OPENAI_URI, DRAFT202012.create_resource(self.openai_doc)),
                (self.OURS_URI, DRAFT202012.create_resource(self.our_doc)),
            ]
        )
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        # Our path templates, longest first so /v1/models/{model} wins over /v1/models.
        self._paths: list[tuple[re.Pattern[str], str]] = []
        for template in sorted(our_doc.get("paths", {}), key=len, reverse=True):
            regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self._paths.append((re.compile(regex), template))
        self.checked = 0  # bodies validated, for the curious

    def _validate(self, uri: str, instance: Any, what: str) -> None:
        validator = self._validators.get(uri)
        if validator is None:
            validator = jsonschema.Draft202012Validator({"$ref": uri}, registry=self.registry)
            self._validators[uri] = validator
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{what} does not validate against {uri}:"]
            for err in errors[:8]:
                path = "/".join(str(p) for p in err.absolute_path) or "(root)"
                lines.append(f"  at {path}: {err.message[:300]}")
            lines.append(f"  instance: {json.dumps(instance)[:1500]}")
            raise SchemaError("\n".join(lines))
        self.checked += 1

    def openai(self, name: str, instance: Any, what: str = "body") -> None:
        self._validate(f"{self.OPENAI_URI}#/components/schemas/{name}", instance, f"{what} (OpenAI {name})")

    def ours(self, name: str, instance: Any, what: str = "body") -> None:
        self._validate(f"{self.OURS_URI}#/components/schemas/{name}", instance, f"{what} (our {name})")

    def template_of(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        for regex, template in self._paths:
            if regex.match(path):
                return template
        return None

    # The OpenAI schema that a body on this path/status must satisfy, if OpenAI has one.
    @staticmethod
    def openai_schema_for(template: str | None, status: int, stream: bool) -> str | None:
        if template == "/health":
            return None  # not an OpenAI endpoint; its 503 body is our Health object
        if status >= 400:
            return "ErrorResponse"
        if status != 200:
            return None
        return {
            ("/v1/chat/completions", False): "CreateChatCompletionResponse",
            ("/v1/chat/completions", True): "CreateChatCompletionStreamResponse",
            ("/v1/completions", False): "CreateCompletionResponse",
            ("/v1/completions", True): "CreateCompletionResponseStreamed",
            ("/v1/models", False): "ListModelsResponse",
            ("/v1/models/{model}", False): "Model",
            ("/v1/responses", False): "Response",
            ("/v1/responses", True): "ResponseStreamEvent",
            ("/v1/responses/{response_id}", False): "Response",
            ("/v1/responses/{response_id}/input_items", False): "ResponseItemList",
            ("/v1/embeddings", False): "CreateEmbeddingResponse",
        }.get((template or "", stream))

    def check_response(
        self, method: str, path: str, status: int, content_type: str, body: bytes
    ) -> None:
        """Validates one complete HTTP response. Raises SchemaError (an AssertionError)."""
        what = f"{method} {path} -> {status}"
        media = content_type.split(";", 1)[0].strip().lower()
        template = self.template_of(path)
        anthropic = path.split("?", 1)[0].startswith("/v1/messages")
        operation = None
        if template is not None:
            # OpenAPI keys operations by lowercased method; HTTP methods are case-sensitive, so `get` is none of them.
            operation = self.our_doc["paths"][template].get(method.lower()) if method.isupper() else None
        if method.upper() == "OPTIONS" or status in (204, 304) or (method.upper() == "HEAD"):
            return  # no body to check (CORS preflight, HEAD)

        stream = media == "text/event-stream"
        if operation is not None:
            responses = operation.get("responses", {})
            if str(status) not in responses:
                raise SchemaError(f"{what}: status {status} is not documented in /openapi.json "
                                  f"(documented: {sorted(responses)})")
            content = responses[str(status)].get("content", {})
            if media not in content:
                raise SchemaError(f"{what}: media type {media!r} is not documented in /openapi.json "
                                  f"for this status (documented: {sorted(content)})")
            our_pointer = "/".join(
                ["#/paths", _pointer_escape(template), method.lower(), "responses", str(status),
                 "content", _pointer_escape(media), "schema"]
            )
        else:
            # Unknown route or method: the body must still be our error shape (Anthropic's under /v1/messages).
            if status < 400:
                raise SchemaError(f"{what}: success on a route /openapi.json does not describe")
            if media != "application/json":
                raise SchemaError(f"{what}: error body is {media!r}, not application/json")
            our_pointer = "#/components/schemas/" + ("AnthropicErrorResponse" if anthropic else "ErrorResponse")

        openai_name = self.openai_schema_for(template if operation else None, status, stream)
        if operation is None and status >= 400:
            openai_name = "ErrorResponse"
        if anthropic:
            openai_name = None  # Anthropic's API: OpenAI's document has nothing to say
        if method.upper() == "DELETE" and status < 400:
            openai_name = None  # OpenAI documents no schema for a deletion's body (only an example)

        if media == "application/json":
            try:
                instance = json.loads(body)
            except ValueError as err:
                raise SchemaError(f"{what}: body is not JSON ({err}): {body[:300]!r}") from None
            self._validate(self.OURS_URI + our_pointer, instance, f"{what} body (our /openapi.json)")
            if openai_name == "CreateEmbeddingResponse" and any(isinstance(d.get("embedding"), str) for d in instance.get("data", [])):
                # OpenAI's document describes only float vectors, though its API (and its SDKs' default) sends base64.
                openai_name = None
            if openai_name:
                self.openai(openai_name, instance, f"{what} body")
        elif stream:
            events = parse_sse(body)
            for i, event in enumerate(events):
                if event.data == "[DONE]":
                    continue
                try:
                    instance = json.loads(event.data)
                except ValueError as err:
                    raise SchemaError(f"{what}: SSE event {i} is not JSON ({err}): {event.data[:300]!r}") from None
                label = f"{what} SSE event {i}"
                if isinstance(instance, dict) and "error" in instance:
                    self.ours("AnthropicErrorResponse" if anthropic else "ErrorResponse", instance, label)
                    if not anthropic:
                        self.openai("ErrorResponse", instance, label)
                    continue
                # Our document describes the stream as a string whose events are these objects.
                ours = {"/v1/chat/completions": "CreateChatCompletionStreamResponse",
                        "/v1/completions": "CreateCompletionResponse",
                        "/v1/responses": "ResponseStreamEvent",
                        "/v1/messages": "MessageStreamEvent"}[template]
                self.ours(ours, instance, label)
                if openai_name:
                    self.openai(openai_name, instance, label)
        else:
            # text/plain (/metrics) and the like: documented media type is all there is to check.
            pass
