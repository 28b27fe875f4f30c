import pytest
from django.urls import reverse

from tests.factories import MembershipFactory, StoreFactory, TicketFactory

pytestmark = pytest.mark.django_db


def test_home_needs_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_home_shows_own_store_tickets_only_and_masks_the_consumer(client):
    membership = MembershipFactory()
    TicketFactory(number="MINE-1", store=membership.store, consumer_phone="13812345678")
    TicketFactory(number="THEIRS-1", store=StoreFactory())
    client.force_login(membership.user)

    body = client.get(reverse("home")).content.decode()

    assert "MINE-1" in body
    assert "THEIRS-1" not in body
    assert "138****5678" in body
    assert "13812345678" not in body


def test_home_is_chinese_by_default(client, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    membership = MembershipFactory()
    client.force_login(membership.user)
    body = client.get(reverse("home")).content.decode()
    assert "平台协同工单" in body


def test_home_query_count_is_fixed(client, django_assert_max_num_queries):
    membership = MembershipFactory()
    client.force_login(membership.user)
    TicketFactory.create_batch(2, store=membership.store)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("home"))
    TicketFactory.create_batch(20, store=membership.store)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("home"))
