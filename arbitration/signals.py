"""Signals the arbitration services send, so no rule knows how its follow-up work runs.

``reports_stale(start=date, end=date)``: the nightly store-day reports of these local
days no longer tell the truth (an appeal overturned a decision they counted). Sent
from ``transaction.on_commit``; ``arbitration/receivers.py`` queues the back-fill.
"""

from django.dispatch import Signal

reports_stale = Signal()
