"""Signals the services send, so that no rule knows how its work is scheduled.

``deliveries_ready(ids=[...])``: outbox rows (emails, group-bot messages) wait to be
sent. Sent from ``transaction.on_commit``; ``tickets/receivers.py`` hands the ids to
Celery.

``tickets_changed(store_ids=[...])``: see below.
"""

from django.dispatch import Signal

deliveries_ready = Signal()

# ``tickets_changed(store_ids=[...])``: tickets of these stores were opened, changed
# state or got a decision. Sent from ``transaction.on_commit``; the receivers wake the
# stores' live streams (tickets/live.py).
tickets_changed = Signal()
