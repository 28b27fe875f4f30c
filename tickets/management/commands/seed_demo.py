"""Demo data for `make run`: idempotent, safe to run again and again."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone, translation

from merchants.models import JDBusinessLine, JDBusinessType, Membership, Platform, Store
from tickets.models import Category, ReplyOption, ReplyTemplate, TicketKind, TicketState
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_reply

ADMIN = ("admin", "admin12345")
MERCHANT_PASSWORD = "demo12345"
JD_STAFF = "jd_staff"

STORES = [
    # (code, name, platform, jd type, jd line, merchant login)
    ("TB-1001", "小米粒家居旗舰店", Platform.TAOBAO, "", "", "taobao_demo"),
    ("TM-2001", "青禾数码天猫专营店", Platform.TMALL, "", "", "tmall_demo"),
    (
        "JD-3001",
        "京选生活POP店",
        Platform.JD,
        JDBusinessType.POP,
        JDBusinessLine.GENERAL,
        "jd_demo",
    ),
]

# (number suffix, kind, category, hours ago, summary, consumer name, phone, worry-free)
TICKETS = [
    (
        "0001",
        TicketKind.NORMAL,
        Category.URGE_SHIPMENT,
        2,
        "买家催发货：下单三天未发货",
        "张伟",
        "13812345678",
        False,
    ),
    (
        "0002",
        TicketKind.NORMAL,
        Category.LOGISTICS,
        13,
        "物流停滞五天，买家要求核实",
        "李娜",
        "13987654321",
        False,
    ),
    (
        "0003",
        TicketKind.NORMAL,
        Category.QUALITY,
        23,
        "收到商品有划痕，要求退换",
        "王芳",
        "15011112222",
        True,
    ),
    (
        "0004",
        TicketKind.NORMAL,
        Category.REFUND_PROGRESS,
        30,
        "退款申请已三天未处理",
        "赵磊",
        "18633334444",
        False,
    ),
    (
        "0005",
        TicketKind.NORMAL,
        Category.INVOICE,
        1,
        "买家需要开具增值税专用发票",
        "陈静",
        "13755556666",
        False,
    ),
]
QUICK_PHRASES = [
    ("已补发", "您好，已为您安排补发，快递单号稍后同步，给您带来不便深表歉意。"),
    ("已退款", "您好，退款已原路退回，预计1-3个工作日到账，请留意。"),
    ("未接通", "已多次致电买家未接通，已发送短信请买家回电。"),
]

JD_CRC = [
    (
        "0101",
        Category.AFTER_SALES,
        1,
        "CRC高危投诉：售后拒绝维修，买家情绪激动",
        "周杰",
        "13600001111",
    ),
    (
        "0102",
        Category.WRONG_OR_MISSING,
        3,
        "CRC高危投诉：错发商品，要求三倍赔偿",
        "孙丽",
        "13922223333",
    ),
]


class Command(BaseCommand):
    help = "Load demo stores, users and tickets (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        now = timezone.now()
        admin, created = User.objects.get_or_create(
            username=ADMIN[0], defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(ADMIN[1])
            admin.save()
        opened = 0
        for code, name, platform, jd_type, jd_line, login in STORES:
            store, _ = Store.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "platform": platform,
                    "jd_business_type": jd_type,
                    "jd_business_line": jd_line,
                    "after_sales_email": f"{login}@example.com",
                },
            )
            user, created = User.objects.get_or_create(
                username=login, defaults={"email": f"{login}@example.com"}
            )
            if created:
                user.set_password(MERCHANT_PASSWORD)
                user.save()
            Membership.objects.get_or_create(
                user=user, store=store, defaults={"role": Membership.Role.OWNER}
            )
            for title, text in QUICK_PHRASES:
                ReplyTemplate.objects.get_or_create(
                    store=store, title=title, defaults={"text": text}
                )
            for suffix, kind, category, hours_ago, summary, cname, phone, worry_free in TICKETS:
                _t, new = ticket_open(
                    store=store,
                    number=f"{code}-{suffix}",
                    order_number=f"{code[:2]}{suffix}8800{hours_ago:02d}",
                    kind=kind,
                    category=category,
                    summary=summary,
                    worry_free=worry_free,
                    consumer_name=cname,
                    consumer_phone=phone,
                    now=now - timedelta(hours=hours_ago),
                )
                opened += new
            if platform == Platform.JD:
                for suffix, category, hours_ago, summary, cname, phone in JD_CRC:
                    _t, new = ticket_open(
                        store=store,
                        number=f"{code}-{suffix}",
                        order_number=f"JD{suffix}9900{hours_ago:02d}",
                        kind=TicketKind.CRC_HIGH_RISK,
                        category=category,
                        summary=summary,
                        consumer_name=cname,
                        consumer_phone=phone,
                        now=now - timedelta(hours=hours_ago),
                    )
                    opened += new
        self._staff_and_a_reply(now=now)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({opened} tickets opened)."))
        self.stdout.write(f"  staff:     {ADMIN[0]} / {ADMIN[1]}  (Django admin at /admin/)")
        for _code, _name, platform, *_rest, login in STORES:
            with translation.override("en"):
                label = str(platform.label)
            self.stdout.write(f"  merchant:  {login} / {MERCHANT_PASSWORD}  ({label} owner)")
        self.stdout.write(f"  staff:     {JD_STAFF} / {MERCHANT_PASSWORD}  (JD after-sales staff)")

    def _staff_and_a_reply(self, *, now):
        """An after-sales colleague on the JD store, and one ticket already answered."""
        User = get_user_model()
        store = Store.objects.get(code="JD-3001")
        staff, created = User.objects.get_or_create(username=JD_STAFF)
        if created:
            staff.set_password(MERCHANT_PASSWORD)
            staff.save()
        Membership.objects.get_or_create(
            user=staff, store=store, defaults={"role": Membership.Role.AFTER_SALES}
        )
        ticket = store.tickets.get(number="JD-3001-0005")
        if ticket.state == TicketState.OPEN and now < ticket.due_at:
            owner = User.objects.get(username="jd_demo")
            at = ticket.created_at + timedelta(minutes=20)
            contact_log(ticket=ticket, user=owner, channel="phone", attempted_at=at, now=at)
            ticket_reply(
                ticket=ticket,
                user=owner,
                option=ReplyOption.objects.get(platform="jd", code="settled"),
                remark="已为买家开具电子发票并发送至邮箱",
                agreed_at=at,
                now=at + timedelta(minutes=5),
            )
