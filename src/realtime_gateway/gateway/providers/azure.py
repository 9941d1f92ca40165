"""Azure OpenAI's GA Realtime endpoints (`https://{resource}.openai.azure.com/openai/v1/...`):
OpenAI's GA wire, with the key in an `api-key` header."""

from __future__ import annotations

from urllib.parse import urlsplit

from realtime_gateway.gateway.providers.realtime import GA_SUFFIX, RealtimeGa

AZURE_HOST_SUFFIX = ".openai.azure.com"


class Azure(RealtimeGa):
    name = "azure"
    label = "Azure OpenAI"

    def handles(self, endpoint: str, model: str) -> bool:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        return host.endswith(AZURE_HOST_SUFFIX) and parts.path.rstrip("/").endswith(GA_SUFFIX)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"api-key": api_key}
