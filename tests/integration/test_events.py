"""The public catalogue covers every ticket event action, and cursors round-trip."""

import pytest

from integration.events import CATALOGUE, EVENT_TYPES, UNKNOWN_TYPE, actions_of, event_type
from integration.feed import BadCursor, cursor_decode, cursor_encode
from tickets.models import EventAction


def test_every_action_has_a_public_type():
    assert set(CATALOGUE) == set(EventAction.values)
    assert UNKNOWN_TYPE not in EVENT_TYPES


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("opened", "ticket.opened"),
        ("confirmed", "ticket.closed"),  # lifecycle.ticket_confirm closes the ticket
        ("exemption_granted", "exemption.decided"),
        ("exemption_rejected", "exemption.decided"),
        ("appeal_overturned", "appeal.decided"),
        ("staff_note", "ticket.note_added"),
        ("reminder_sent", "reminder.sent"),
    ],
)
def test_actions_map_to_their_types(action, kind):
    assert event_type(action) == kind


def test_types_select_their_actions():
    assert actions_of(["appeal.decided"]) == {"appeal_upheld", "appeal_overturned"}
    assert actions_of([]) == set()


@pytest.mark.parametrize("position", [(0, 0), (1, 2), (2**63 - 1, 2**63 - 1), (987654, 12)])
def test_a_cursor_round_trips(position):
    assert cursor_decode(cursor_encode(position)) == position


@pytest.mark.parametrize(
    "cursor",
    ["", "x", "MTIz", "LTEuMg", "MS4", "MS4wMg", "MS4y=", "9" * 65, "MS4y\x00", "MS4y%", "é"],
)
def test_a_cursor_we_did_not_make_is_refused(cursor):
    # MTIz = "123" (no dot), LTEuMg = "-1.2", MS4 = "1.", MS4wMg = "1.02" (leading zero)
    with pytest.raises(BadCursor):
        cursor_decode(cursor)
