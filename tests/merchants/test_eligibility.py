import pytest
from django.db import IntegrityError

from merchants.models import JDBusinessLine, JDBusinessType, Platform, Store
from merchants.services import store_check_ticket_eligibility, store_ticket_ineligibility
from tests.factories import MembershipFactory, StoreFactory

pytestmark = pytest.mark.django_db

EXCLUDED = [
    JDBusinessLine.PAIPAI_SECOND_HAND,
    JDBusinessLine.GLOBAL_PURCHASE,
    JDBusinessLine.GLOBAL_SALE,
    JDBusinessLine.JINGXI,
    JDBusinessLine.JD_DAOJIA,
    JDBusinessLine.OVERSEAS,
    JDBusinessLine.NEW_CHANNEL,
]


@pytest.mark.parametrize("line", EXCLUDED)
def test_jd_excluded_business_lines_are_refused(line):
    store = StoreFactory(jd=True, jd_business_line=line)
    with pytest.raises(Exception) as excinfo:
        store_check_ticket_eligibility(store=store)
    assert excinfo.value.code == "store_ineligible"
    assert "business line" in excinfo.value.messages[0]


@pytest.mark.parametrize("business_type", [JDBusinessType.POP, JDBusinessType.SOP])
def test_jd_pop_and_sop_general_stores_are_eligible(business_type):
    store = StoreFactory(jd=True, jd_business_type=business_type)
    assert store_ticket_ineligibility(store=store) is None


@pytest.mark.parametrize("platform", [Platform.TAOBAO, Platform.TMALL])
def test_taobao_and_tmall_stores_are_eligible(platform):
    assert store_ticket_ineligibility(store=StoreFactory(platform=platform)) is None


def test_inactive_store_is_refused():
    store = StoreFactory(is_active=False)
    assert "inactive" in store_ticket_ineligibility(store=store)


def test_jd_store_must_say_its_business_type():
    with pytest.raises(IntegrityError):
        Store.objects.create(platform=Platform.JD, name="x", code="JDX")


def test_taobao_store_cannot_carry_jd_fields():
    with pytest.raises(IntegrityError):
        Store.objects.create(
            platform=Platform.TAOBAO, name="x", code="TBX", jd_business_type=JDBusinessType.POP
        )


def test_one_membership_per_user_and_store():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError):
        MembershipFactory(user=membership.user, store=membership.store)
