"""Stores, who may act for them, and the order volumes that rates are computed from."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Platform(models.TextChoices):
    TAOBAO = "taobao", _("Taobao")
    TMALL = "tmall", _("Tmall")
    JD = "jd", _("JD")


class JDBusinessType(models.TextChoices):
    POP = "pop", "POP"
    SOP = "sop", "SOP"


class JDBusinessLine(models.TextChoices):
    GENERAL = "general", _("General merchandise")
    PAIPAI_SECOND_HAND = "paipai", _("Paipai second-hand (拍拍二手)")
    GLOBAL_PURCHASE = "global_purchase", _("Global purchase (全球购)")
    GLOBAL_SALE = "global_sale", _("Global sale (全球售)")
    JINGXI = "jingxi", _("Jingxi (京喜)")
    JD_DAOJIA = "daojia", _("JD Daojia (京东到家)")
    OVERSEAS = "overseas", _("Overseas purchase (海外购)")
    NEW_CHANNEL = "new_channel", _("New channel (新通路)")


# JD: the ticket feature applies to POP and SOP merchants except these lines (SPEC.md).
JD_EXCLUDED_LINES = frozenset(
    {
        JDBusinessLine.PAIPAI_SECOND_HAND,
        JDBusinessLine.GLOBAL_PURCHASE,
        JDBusinessLine.GLOBAL_SALE,
        JDBusinessLine.JINGXI,
        JDBusinessLine.JD_DAOJIA,
        JDBusinessLine.OVERSEAS,
        JDBusinessLine.NEW_CHANNEL,
    }
)


class BotKind(models.TextChoices):
    WECOM = "wecom", _("WeCom (企业微信)")
    DINGTALK = "dingtalk", _("DingTalk (钉钉)")
    FEISHU = "feishu", _("Feishu (飞书)")


class Store(models.Model):
    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(
        _("store code"), max_length=64, unique=True, help_text=_("The platform's shop id.")
    )
    jd_business_type = models.CharField(
        _("JD business type"), max_length=8, choices=JDBusinessType.choices, blank=True
    )
    jd_business_line = models.CharField(
        _("JD business line"), max_length=32, choices=JDBusinessLine.choices, blank=True
    )
    after_sales_email = models.EmailField(_("after-sales contact email"), blank=True)
    # Chinese merchant teams live in group chats: reminders go to the store's group bot.
    bot_kind = models.CharField(_("group bot"), max_length=16, choices=BotKind.choices, blank=True)
    bot_url = models.URLField(_("group bot webhook URL"), max_length=500, blank=True)
    bot_secret = models.CharField(
        _("group bot signing secret"),
        max_length=200,
        blank=True,
        help_text=_("DingTalk 加签 / Feishu 签名校验 secret, if the bot uses one."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # JD 保证金: fines the monthly settlement cannot cover come out of it, never below zero.
    deposit = models.DecimalField(
        _("deposit (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    round_robin = models.BooleanField(
        _("round-robin assignment"),
        default=False,
        help_text=_("New tickets go in turn to after-sales staff marked on duty."),
    )
    # The membership that received the last round-robin ticket (the turn moves on from it).
    round_robin_last = models.ForeignKey(
        "Membership",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last round-robin assignee"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["platform", "name"]
        constraints = [
            # A JD store says what kind of merchant it is; other platforms have no such thing.
            models.CheckConstraint(
                condition=(
                    Q(platform="jd", jd_business_type__in=["pop", "sop"]) & ~Q(jd_business_line="")
                )
                | (~Q(platform="jd") & Q(jd_business_type="", jd_business_line="")),
                name="store_jd_fields_match_platform",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_platform_display()})"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        AFTER_SALES = "after_sales", _("After-sales staff")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("store")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    on_duty = models.BooleanField(
        _("on duty"), default=True, help_text=_("Takes part in round-robin assignment.")
    )
    # Store-wide notifications newer than this are unread for this member.
    notifications_seen_at = models.DateTimeField(_("notifications seen at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "store"], name="membership_unique_user_store")
        ]

    def __str__(self):
        return f"{self.user} @ {self.store} ({self.get_role_display()})"


class DailyOrderVolume(models.Model):
    """Paid orders (sub-orders) of a store on one Asia/Shanghai day: the rate denominator."""

    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="order_volumes", verbose_name=_("store")
    )
    date = models.DateField(_("date"))
    paid_orders = models.PositiveIntegerField(_("paid orders"))
    # What the platform settles to the store for that day's paid orders (JD's monthly
    # settlement deducts fines from the sum).
    paid_amount = models.DecimalField(
        _("paid amount (CNY)"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )

    class Meta:
        verbose_name = _("daily order volume")
        verbose_name_plural = _("daily order volumes")
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["store", "date"], name="order_volume_unique_store_date")
        ]

    def __str__(self):
        return f"{self.store} {self.date}: {self.paid_orders}"
