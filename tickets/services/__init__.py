"""Ticket rules: every write goes through a function in one of these modules.

One module per concern; import a rule from the module that owns it:

- ``common``: the row lock, the event row, the refusals every rule shares
- ``intake``: opening a ticket (policy, deadline, idempotent on the number)
- ``reminders``: each ticket's reminder rows
- ``lifecycle``: reply, confirm, escalate, and their locked set-based variants
- ``contacts``: the log of attempts to reach the consumer
- ``evidence``: evidence files (size, content type, hash, storage)
- ``exemptions``: a store's request for more time, and the extended deadline
- ``team``: assignment, round-robin, duty, quick phrases, staff edits
- ``tokens``: the intake API's bearer tokens
- ``notifications``: in-app rows and the outbox, written in the caller's transaction
- ``deliveries``: sending the outbox after commit (claim, retry, back off)
- ``sweeps``: the deadline sweep (escalate, auto-confirm, remind, retry)

Refusals raise django.core.exceptions.ValidationError with a ``code`` (or
PermissionDenied) and change nothing, so the admin, the API and the dashboard
all show the same plain message. No module here imports a task, a view or the
receivers: work for Celery leaves through signals sent on commit (``tickets/signals.py``).
"""
