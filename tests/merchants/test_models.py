from datetime import date

import pytest
from django.db import IntegrityError

from merchants.models import DailyOrderVolume
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


def test_one_order_volume_per_store_and_day():
    store = StoreFactory()
    DailyOrderVolume.objects.create(store=store, date=date(2026, 11, 24), paid_orders=120)
    with pytest.raises(IntegrityError):
        DailyOrderVolume.objects.create(store=store, date=date(2026, 11, 24), paid_orders=5)


def test_order_volume_cannot_be_negative():
    with pytest.raises(IntegrityError):
        DailyOrderVolume.objects.create(
            store=StoreFactory(), date=date(2026, 11, 24), paid_orders=-1
        )
