from django.contrib import admin
from django.urls import include, path

from tickets.api import intake_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", intake_api.urls),
    path("", include("tickets.urls")),
]
