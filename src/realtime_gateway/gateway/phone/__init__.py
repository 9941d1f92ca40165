"""Phone calls: OpenAI's signed SIP webhooks, mapped to a tenant, admitted under its leash and
answered by its policy or by its own app (DESIGN section 14).

    webhook.py   verify a delivery (Standard Webhooks, the store's clock) and refuse replays
    numbers.py   the SIP `To` number, normalised, and the tenant whose policy holds it
    answer.py    accept and reject at the provider
    forward.py   the event, signed with the tenant's secret, to the tenant's webhook
    service.py   what becomes of an incoming call (`Phone`)
    routes.py    `POST /webhooks/openai`, `POST /v1/realtime/calls/{id}/accept|reject`
"""
