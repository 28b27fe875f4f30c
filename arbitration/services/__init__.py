"""The platform's decisions; import each rule from the module that owns it.

- ``decisions``: judging an escalated ticket, or compensating a worry-free one
- ``findings``: forged evidence and its violation points
- ``exemptions``: granting or rejecting a store's request for more time

State changes go through the tickets services' mechanics (row lock, FSM
transition, event in the same transaction); these modules add the platform's
rules and records.
"""
