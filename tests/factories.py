"""One place for factories, consistent across relations."""

import struct
import zlib
from datetime import UTC, datetime

import factory
from django.contrib.auth import get_user_model

from merchants.models import JDBusinessLine, JDBusinessType, Membership, Platform, Store
from tickets.models import Category, Policy, Ticket, TicketKind
from tickets.services.intake import ticket_compute_due_at

# A fixed Tuesday, 10:00 Asia/Shanghai, for tests that don't care about the date.
TUESDAY_10_SHANGHAI = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-12345-xietong")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    platform = Platform.TAOBAO
    name = factory.Sequence(lambda n: f"Store {n}")
    code = factory.Sequence(lambda n: f"S{n:05d}")

    class Params:
        jd = factory.Trait(
            platform=Platform.JD,
            jd_business_type=JDBusinessType.POP,
            jd_business_line=JDBusinessLine.GENERAL,
        )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    store = factory.SubFactory(StoreFactory)
    role = Membership.Role.OWNER


class TicketFactory(factory.django.DjangoModelFactory):
    """A ticket as the intake service would open it (policy and due_at from the store)."""

    class Meta:
        model = Ticket

    number = factory.Sequence(lambda n: f"T{n:08d}")
    store = factory.SubFactory(StoreFactory)
    kind = TicketKind.NORMAL
    policy = factory.LazyAttribute(
        lambda t: Policy.objects.get(platform=t.store.platform, kind=t.kind)
    )
    order_number = factory.Sequence(lambda n: f"O{n:010d}")
    category = Category.OTHER
    summary = "买家催发货"
    consumer_name = "张三丰"
    consumer_phone = "13812345678"
    created_at = TUESDAY_10_SHANGHAI
    due_at = factory.LazyAttribute(
        lambda t: ticket_compute_due_at(policy=t.policy, created_at=t.created_at)
    )
    priority = factory.LazyAttribute(
        lambda t: (
            Ticket.PRIORITY_CRC if t.kind == TicketKind.CRC_HIGH_RISK else Ticket.PRIORITY_NORMAL
        )
    )


def staff_user(role: str, username: str | None = None):
    """A platform staff user in one of the role groups (cs_agent, arbitrator, ops)."""
    from django.contrib.auth.models import Group

    user = UserFactory(username=username or f"{role}-staff", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def make_evidence(ticket, name="chat.png", content=b"\x89PNG\r\n\x1a\n fake"):
    """An evidence row with a stored file, bypassing the upload checks (for staff-side tests)."""
    import hashlib

    from django.core.files.base import ContentFile

    from tickets.models import Evidence

    item = Evidence(
        ticket=ticket,
        original_name=name,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content_type="image/png",
        uploaded_by=MembershipFactory(store=ticket.store).user,
        uploaded_at=ticket.created_at,
    )
    item.file.save(name, ContentFile(content), save=False)
    item.save()
    return item


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (with a valid CRC) claims ``width`` x ``height`` pixels and whose
    data is a few bytes: the shape of a decompression bomb, without the bytes of one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def picture(seed: int = 1, size=(640, 480)):
    """A busy Pillow picture (random boxes and ellipses on a gradient): ``seed`` makes
    another picture, the same seed the same one."""
    import random

    from PIL import Image, ImageDraw

    rnd = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        w, h = rnd.randint(20, 200), rnd.randint(20, 200)
        color = tuple(rnd.randrange(256) for _ in range(3))
        shape = draw.ellipse if rnd.random() < 0.5 else draw.rectangle
        shape((x, y, x + w, y + h), fill=color)
    return image


def image_bytes(image, fmt="JPEG", **options) -> bytes:
    import io

    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def replied_ticket(code: str = "settled", **kwargs):
    """A ticket its store replied to (one contact attempt, then the reply option ``code``),
    through the services, half an hour after a contact an hour after creation."""
    from datetime import timedelta

    from tickets.models import ReplyOption
    from tickets.services.contacts import contact_log
    from tickets.services.lifecycle import ticket_reply

    member = MembershipFactory(**({"store": kwargs["store"]} if "store" in kwargs else {}))
    ticket = TicketFactory(**(kwargs | {"store": member.store}))
    contacted = ticket.created_at + timedelta(hours=1)
    contact_log(
        ticket=ticket, user=member.user, channel="phone", attempted_at=contacted, now=contacted
    )
    return ticket_reply(
        ticket=ticket,
        user=member.user,
        option=ReplyOption.objects.get(platform=ticket.store.platform, code=code),
        remark="已与买家协商补发",
        agreed_at=contacted,
        now=contacted + timedelta(minutes=30),
    )
