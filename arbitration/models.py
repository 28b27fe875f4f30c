"""Judgments, violations and penalties arrive with the lifecycle issue."""
