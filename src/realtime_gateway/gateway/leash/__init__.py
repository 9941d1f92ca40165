"""The leash: per-tenant call length, live-call cap and daily audio budget, held in Redis so
every replica enforces the same limits (DESIGN.md section 10)."""
