from django.contrib import admin

from .models import DailyOrderVolume, Membership, Store


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "platform", "jd_business_type", "jd_business_line", "is_active"]
    list_filter = ["platform", "jd_business_type", "jd_business_line", "is_active"]
    search_fields = ["name", "code"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "store", "role", "on_duty"]
    list_filter = ["role", "store__platform"]
    search_fields = ["user__username", "store__name", "store__code"]
    list_select_related = ["user", "store"]
    raw_id_fields = ["user", "store"]


@admin.register(DailyOrderVolume)
class DailyOrderVolumeAdmin(admin.ModelAdmin):
    list_display = ["store", "date", "paid_orders"]
    list_filter = ["store__platform"]
    search_fields = ["store__name", "store__code"]
    date_hierarchy = "date"
    list_select_related = ["store"]
    raw_id_fields = ["store"]
