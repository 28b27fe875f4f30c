import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from merchants.models import Membership, Store
from tickets.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Store.objects.count(), Ticket.objects.count(), TicketEvent.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (Store.objects.count(), Ticket.objects.count(), TicketEvent.objects.count()) == counts
    assert set(Store.objects.values_list("platform", flat=True)) == {"taobao", "tmall", "jd"}
    assert Ticket.objects.filter(kind="crc_high_risk").exists()
    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    for login in ("taobao_demo", "tmall_demo", "jd_demo"):
        user = users.get(username=login)
        assert user.check_password("demo12345")
        assert Membership.objects.filter(user=user).count() == 1
