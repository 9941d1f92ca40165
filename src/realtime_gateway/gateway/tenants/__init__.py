"""Tenants and their keys at runtime: the registry (memory or Redis) and the refresher that
keeps every replica's authenticator and policies in step with it."""
