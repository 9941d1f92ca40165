"""Usage out: each call's end as a signed `call.ended` webhook, from an outbox (a Redis stream,
or memory) delivered at least once by every replica's delivery loop."""
