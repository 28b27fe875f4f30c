"""Merchant dashboard views: thin callers of the selectors and services."""
