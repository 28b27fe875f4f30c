"""The audit trail: who changed what, when, through the staff admin or the API."""
