"""A `multipart/form-data` body, as OpenAI's call creation takes its `sdp` and `session`."""

from __future__ import annotations

import secrets


def multipart_form(parts: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A body of (name, content type, content) parts, and its `Content-Type`."""
    boundary = "rtg-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, content_type, content in parts:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        chunks.append(content)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
