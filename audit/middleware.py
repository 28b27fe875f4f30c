"""Records every data-changing request of staff (admin) and API clients: see models.py.

Last in MIDDLEWARE: process_view runs only for a request that reached a view (CSRF
refusals and 404s of no URL never do); the entry is written after the response, in its
own transaction, with one INSERT (audit.capture). The view's own transaction has
committed or rolled back by then: a refused request leaves its entry and nothing else.
"""

import logging

from .capture import UNSAFE_METHODS, api_prefix, audit_entry_build, audit_entry_write, known_user
from .models import Via

logger = logging.getLogger(__name__)


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        seen = getattr(request, "_audit_view", None)
        if seen is not None:
            via, view_func, actor_before = seen
            try:
                entry = audit_entry_build(
                    request=request,
                    response=response,
                    via=via,
                    view_func=view_func,
                    actor_before=actor_before,
                )
            except Exception:
                logger.exception("audit: could not describe %s %s", request.method, request.path)
            else:
                audit_entry_write(entry)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in UNSAFE_METHODS:
            return None
        match = request.resolver_match
        if match is not None and "admin" in match.app_names:
            # The admin loads the user for its permission check anyway; read before the
            # view so a logout still names who logged out.
            user = request.user if request.user.is_authenticated else None
            request._audit_view = (Via.ADMIN, view_func, user)
        elif request.path.startswith(api_prefix()):
            request._audit_view = (Via.API, view_func, known_user(request))
        return None
