"""Hand-written HTTP/1.1 requests for the sinks' servers: any Host and Origin header, as a
hostile page or a DNS-rebinding browser would send them (http.client and the websockets
client set Host from the URL)."""

from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class RawReply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes  # Content-Length bytes (none for 101 or a stream without a length)


def raw_request(port: int, path: str, headers: dict[str, str], websocket: bool = False,
                timeout: float = 10.0) -> RawReply:
    """GET `path` on 127.0.0.1:`port` with exactly `headers` (plus the upgrade headers when
    `websocket`); reads the status, headers and a Content-Length body, then closes."""
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]
    else:
        lines.append("Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"server closed after {len(data)} bytes: {data[:200]!r}")
            data += chunk
            assert len(data) < MAX_HEAD_BYTES, "response head too long"
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        reply_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        length = int(reply_headers.get("content-length", "0")) if status != 101 else 0
        assert length <= MAX_BODY_BYTES, f"body of {length} bytes"
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return RawReply(status, reply_headers, body[:length])
