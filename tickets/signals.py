"""Signals the services send, so that no rule knows how its work is scheduled.

``deliveries_ready(ids=[...])``: outbox rows (emails, group-bot messages) wait to be
sent. Sent from ``transaction.on_commit``; ``tickets/receivers.py`` hands the ids to
Celery.
"""

from django.dispatch import Signal

deliveries_ready = Signal()
