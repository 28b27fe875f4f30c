from django.contrib.admin.apps import AdminConfig


class XietongAdminConfig(AdminConfig):
    """django.contrib.admin with Xietong's site (config/admin.py) as ``admin.site``."""

    default_site = "config.admin.XietongAdminSite"
