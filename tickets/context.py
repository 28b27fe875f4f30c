"""Template context for the dashboard's top bar (store switcher, bell)."""


def dashboard(request):
    return {
        "current_store": getattr(request, "store", None),
        "current_membership": getattr(request, "membership", None),
        "member_stores": [m.store for m in getattr(request, "memberships", [])],
    }
