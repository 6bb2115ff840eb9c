"""Server-Sent Events parsing for the end-to-end suite."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SSEEvent:
    data: str
    event: str | None = None


def parse_sse(body: bytes | str, complete_only: bool = True) -> list[SSEEvent]:
    """Splits a text/event-stream body into events (data lines joined by newlines).

    With complete_only, a trailing event without its terminating blank line is dropped (a
    stream that was cut off)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n\n")
    if complete_only and not text.endswith("\n\n"):
        blocks = blocks[:-1]
    events = []
    for block in blocks:
        data_lines, event = [], None
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data_lines.append(value)
            elif name == "event":
                event = value
        if data_lines:
            events.append(SSEEvent("\n".join(data_lines), event))
    return events
