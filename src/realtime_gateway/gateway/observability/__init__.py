"""Metrics, the audit trail and JSON logs."""
