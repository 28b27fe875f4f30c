"""The project's URLs plus views that fail on purpose, for tests/test_finish.py's error
pages (installed with ``settings.ROOT_URLCONF = "tests.urls_finish"``)."""

from django.core.exceptions import BadRequest, PermissionDenied
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def boom(request):
    raise RuntimeError("a bug, on purpose")


def refused(request):
    raise PermissionDenied


def bad(request):
    raise BadRequest("a malformed request, on purpose")


urlpatterns = [
    path("test-finish/boom/", boom),
    path("test-finish/refused/", refused),
    path("test-finish/bad/", bad),
    *project_urlpatterns,
]
