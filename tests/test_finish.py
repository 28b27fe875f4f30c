"""The dashboard's finish: error pages in the site's frame and language, form errors
under labels, the favicon and the SVG icons, button contrast, SITE_URL following PORT."""

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django import forms
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.template.loader import get_template, render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation

from merchants.models import Membership
from tests.factories import TUESDAY_10_SHANGHAI, MembershipFactory, StoreFactory, UserFactory
from tickets.services.intake import ticket_open

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CSS = ROOT / "static" / "css" / "xietong.css"


def html(response) -> str:
    return response.content.decode()


def zh(message: str, context: str | None = None) -> str:
    """The zh-hans catalogue's words (the project's, else Django's own), checked to be
    Chinese, so a page is shown to be in the active language whoever words it."""
    with translation.override("zh-hans"):
        words = translation.pgettext(context, message) if context else translation.gettext(message)
    assert words != message, f"no zh-hans translation for {message!r}"
    return words


def visible_text(markup: str) -> str:
    """What a reader sees: the markup without its tags and attributes."""
    return " ".join(re.sub(r"<[^>]*>", " ", markup).split())


def error_box(body: str) -> str:
    """The visible text of the page's form-errors box."""
    start = body.index('<div class="error form-errors"')
    return visible_text(body[start : body.index("</div>", start)])


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(membership.user)
    return membership


@pytest.fixture
def chinese(settings):
    # tests/conftest.py makes English the default for assertions; the site's is zh-hans.
    settings.LANGUAGE_CODE = "zh-hans"


def choose_english(client: Client) -> None:
    """What the top bar's language switch leaves behind."""
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def assert_in_the_frame(body: str, *, language: str) -> None:
    assert f'<html lang="{language}">' in body
    assert 'class="topbar"' in body and 'id="main"' in body
    assert 'rel="icon"' in body
    assert f'href="{reverse("home")}"' in body  # the brand, and the way back to the inbox


# --- error pages ----------------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_url_is_a_404_in_the_frame_in_chinese_by_default(client, owner, chinese):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = html(response)
    assert_in_the_frame(body, language="zh-hans")
    assert zh("Page not found") in body
    assert zh("Back to the inbox") in body


@pytest.mark.django_db
def test_unknown_url_is_a_404_in_english_when_chosen(client, owner, chinese):
    choose_english(client)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = html(response)
    assert_in_the_frame(body, language="en")
    assert "Page not found" in body and "Back to the inbox" in body


@pytest.mark.django_db
def test_another_stores_ticket_is_the_same_404_page_with_the_stores_own_top_bar(client, owner):
    theirs, _ = ticket_open(
        store=StoreFactory(),
        number="THEIRS-1",
        order_number="O-1",
        summary="s",
        now=TUESDAY_10_SHANGHAI,
    )
    response = client.get(reverse("ticket_detail", args=[theirs.pk]))
    assert response.status_code == 404
    body = html(response)
    assert_in_the_frame(body, language="en")
    assert "Page not found" in body
    assert owner.store.name in body  # the member's own store, in the top bar
    assert 'id="notification-bell"' in body
    assert "THEIRS-1" not in body and theirs.store.name not in body


@pytest.mark.django_db
def test_a_user_of_no_store_gets_a_403_in_the_frame(client):
    client.force_login(UserFactory())
    response = client.get(reverse("home"))
    assert response.status_code == 403
    body = html(response)
    assert_in_the_frame(body, language="en")
    assert "No store yet" in body
    assert f'action="{reverse("logout")}"' in body  # the way out, in the top bar


@pytest.mark.django_db
def test_a_refused_action_is_a_403_page_with_the_refusal(client, owner):
    staff = MembershipFactory(store=owner.store, role=Membership.Role.AFTER_SALES)
    client.force_login(staff.user)
    response = client.post(reverse("team_round_robin"), {"enabled": "1"})
    assert response.status_code == 403
    body = html(response)
    assert_in_the_frame(body, language="en")
    assert "Forbidden" in body
    assert "Only the store owner can do this." in body


@pytest.mark.django_db
def test_a_bare_permission_denied_is_a_403_page_in_chinese(client, owner, chinese, settings):
    settings.ROOT_URLCONF = "tests.urls_finish"
    response = client.get("/test-finish/refused/")
    assert response.status_code == 403
    body = html(response)
    assert_in_the_frame(body, language="zh-hans")
    assert zh("Forbidden") in body and zh("Back to the inbox") in body


@pytest.mark.django_db
def test_a_form_sent_without_its_csrf_token_is_a_403_page_in_the_frame(chinese):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "someone", "password": "x"})
    assert response.status_code == 403
    body = html(response)
    assert_in_the_frame(body, language="zh-hans")
    assert zh("Forbidden") in body
    assert "CSRF" not in visible_text(body)  # not Django's bare developer page


@pytest.mark.django_db
def test_a_bad_request_is_a_400_page_in_the_frame(client, owner, settings):
    settings.ROOT_URLCONF = "tests.urls_finish"
    response = client.get("/test-finish/bad/")
    assert response.status_code == 400
    body = html(response)
    assert_in_the_frame(body, language="en")
    assert "Bad request" in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("english", "language", "title", "back"),
    [
        (False, "zh-hans", zh("Server error"), zh("Back to the inbox")),
        (True, "en", "Server error", "Back to the inbox"),
    ],
)
def test_an_error_in_a_view_is_a_500_page_in_the_frame(
    owner, chinese, settings, english, language, title, back
):
    settings.ROOT_URLCONF = "tests.urls_finish"
    client = Client(raise_request_exception=False)
    client.force_login(owner.user)
    if english:
        choose_english(client)
    response = client.get("/test-finish/boom/")
    assert response.status_code == 500
    body = html(response)
    assert_in_the_frame(body, language=language)
    assert title in body and back in body
    # Django renders 500.html with no request: nothing that needs one, or its token.
    assert "<form" not in body and "csrfmiddlewaretoken" not in body
    assert "a bug, on purpose" not in body


def test_500_page_renders_with_an_empty_context_and_no_request():
    # Exactly what django.views.defaults.server_error does.
    with translation.override("zh-hans"):
        body = get_template("500.html").render()
    assert '<html lang="zh-hans">' in body
    assert zh("Server error") in body and 'href="/"' in body


# --- form errors under labels ---------------------------------------------------------


@pytest.mark.django_db
def test_reports_period_error_names_the_fields_label_not_its_name(client, owner):
    response = client.get(reverse("reports"), {"start": "2026-11-20", "end": "2026-11-10"})
    assert response.status_code == 400
    body = html(response)
    errors = error_box(body)
    assert errors == "To: The end date is before the start date."


@pytest.mark.django_db
def test_reports_period_error_in_chinese_uses_the_chinese_label(client, owner, chinese):
    response = client.get(reverse("reports"), {"start": "2026-11-20", "end": "2026-11-10"})
    assert response.status_code == 400
    body = html(response)
    errors = error_box(body)
    assert errors.startswith(zh("To", context="period"))
    assert zh("The end date is before the start date.") in errors
    assert "end" not in errors


@pytest.mark.django_db
def test_login_errors_name_the_fields_by_label(client):
    response = client.post(reverse("login"), {"username": "", "password": "x"})
    assert error_box(html(response)) == "Username: This field is required."
    wrong = html(client.post(reverse("login"), {"username": "nobody", "password": "x"}))
    assert "Your username and password didn't match. Please try again." in wrong
    assert 'class="error form-errors"' not in wrong


class _FilterForm(forms.Form):
    created_to = forms.DateField(label="Created to")
    token = forms.CharField(label="Signature", widget=forms.HiddenInput)

    def clean(self):
        raise ValidationError("Nothing matches these filters.")


def test_form_errors_include_shows_labels_links_fields_and_keeps_non_field_errors():
    form = _FilterForm({"created_to": "not a date"})
    assert not form.is_valid()
    markup = render_to_string("_form_errors.html", {"form": form})
    text = visible_text(markup)
    assert "Nothing matches these filters." in text
    assert "Created to: Enter a valid date." in text
    assert "Signature: This field is required." in text
    assert "created_to" not in text and "token" not in text
    assert 'href="#id_created_to"' in markup  # to the field itself
    assert 'href="#id_token"' not in markup  # a hidden field has nowhere to go
    assert 'role="alert"' in markup


def test_a_valid_form_renders_no_error_box():
    assert render_to_string("_form_errors.html", {"form": forms.Form({})}).strip() == ""


def test_no_dashboard_template_prints_a_forms_error_dict():
    # {{ form.errors }} lists errors under field names (「created_to」), not labels.
    raw = re.compile(r"\{\{\s*[\w.]*form\.errors(\.as_\w+)?\s*\}\}")
    offenders = [
        str(path.relative_to(ROOT))
        for path in TEMPLATES.rglob("*.html")
        if "admin" not in path.relative_to(TEMPLATES).parts and raw.search(path.read_text())
    ]
    assert offenders == []


def test_no_dashboard_view_joins_form_errors_without_their_labels():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tickets" / "views").glob("*.py")
        if re.search(r"\.errors\.(values|as_text)\(\)", path.read_text())
    ]
    assert offenders == []


# --- favicon and icons ----------------------------------------------------------------


@pytest.mark.django_db
def test_every_page_links_the_svg_favicon(client):
    body = html(client.get(reverse("login")))
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in body


@pytest.mark.django_db
def test_favicon_ico_redirects_to_the_svg_and_the_svg_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/img/favicon.svg"
    assert "max-age=86400" in response["Cache-Control"]
    served = client.get(response["Location"])
    try:
        assert served.status_code == 200 and served["Content-Type"] == "image/svg+xml"
        assert b"<svg" in b"".join(served.streaming_content)
    finally:
        served.close()
    svg = ElementTree.parse(finders.find("img/favicon.svg")).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 32 32"
    # No <text>: the mark must not depend on whatever fonts the machine has.
    assert not svg.findall(".//{http://www.w3.org/2000/svg}text")


ICONS = sorted((TEMPLATES / "icons").glob("*.svg"))


def test_there_is_an_icon_set():
    assert {path.stem for path in ICONS} >= {"bell", "inbox", "alert", "lock", "search"}


@pytest.mark.parametrize("path", ICONS, ids=lambda path: path.stem)
def test_each_icon_is_decorative_inline_svg_in_the_text_colour(path):
    svg = ElementTree.fromstring(path.read_text())
    assert svg.tag == "svg" and svg.get("class") == "icon"
    assert svg.get("aria-hidden") == "true" and svg.get("focusable") == "false"
    assert svg.get("stroke") == "currentColor" and svg.get("viewBox") == "0 0 24 24"
    assert not svg.findall(".//text")
    assert path.read_text() == path.read_text().strip()  # no stray space when included


# Emoji and pictographs, which need a colour emoji font (missing on many Linux desktops).
EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f000-\U0001faff]")


def test_no_template_or_static_file_uses_an_emoji():
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group()!r}"
        for folder in (TEMPLATES, ROOT / "static")
        for path in folder.rglob("*")
        if path.suffix in {".html", ".css", ".js", ".svg", ".txt"}
        for match in EMOJI.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.django_db
def test_the_bell_is_an_svg_icon_beside_its_text(client, owner, chinese):
    body = html(client.get(reverse("notification_bell"), HTTP_HX_REQUEST="true"))
    bell = body[body.index('<a id="notification-bell"') : body.index("</a>") + 4]
    assert '<svg class="icon"' in bell and 'aria-hidden="true"' in bell
    assert visible_text(bell) == zh("Notifications")  # the link's name, not the icon's


# --- contrast -------------------------------------------------------------------------


def css_rules(text: str) -> dict[str, dict[str, str]]:
    """Every selector's declarations, merged in file order (a later rule wins, as the
    cascade does between equally specific rules). Rules inside @media count too: none
    of them sets a colour."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    rules: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        declarations = {
            name.strip(): value.strip()
            for name, _, value in (part.partition(":") for part in body.split(";"))
            if value.strip()
        }
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


def css_colour(value: str, variables: dict[str, str]) -> str | None:
    """The hex colour in a value (``var(--x)`` resolved from :root), else None."""
    for _ in range(5):
        value = re.sub(r"var\((--[\w-]+)\)", lambda m: variables[m.group(1)], value)
    match = re.search(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", value)
    return match.group().lower() if match else None


def luminance(hex_colour: str) -> float:
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG 2.x contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula_matches_wcag_reference_values():
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777", "#fff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#767676", "#fff") == pytest.approx(4.54, abs=0.01)


WHITE = "#fff"  # cards, tables and the top bar, where the controls sit
# (what is checked, the rules that style it in cascade order, the backdrop when none of
# them sets a background). Text colour not set by the rules is the body's. Listing "a"
# before a row's rule puts a link's colour on that row's background.
TEXT_ON_BACKGROUND = [
    ("button", ["button"], WHITE),
    ("button:hover", ["button", "button:hover"], WHITE),
    ("button.primary", ["button", "button.primary"], WHITE),
    (
        "button.primary:hover",
        ["button", "button.primary", "button:hover", "button.primary:hover"],
        WHITE,
    ),
    ("button.danger", ["button", "button.danger"], WHITE),
    (
        "button.danger:hover",
        ["button", "button:hover", "button.danger", "button.danger:hover"],
        WHITE,
    ),
    ("button:disabled", ["button", "button:hover", "button:disabled"], WHITE),
    ("button.primary:disabled", ["button", "button.primary", "button:disabled"], WHITE),
    (
        "button.primary:disabled:hover",
        ["button", "button.primary", "button.primary:hover", "button:disabled:hover"],
        WHITE,
    ),
    ("a.button", ["a", "a.button"], WHITE),
    ("a.button:hover", ["a", "a.button", "a.button:hover"], WHITE),
    ("bell count", [".bell-count"], WHITE),
    ("brand", [".brand"], WHITE),
    ("link", ["a"], WHITE),
    ("link on the page background", ["body", "a"], WHITE),
    ("error", [".error"], WHITE),
    ("notice", [".notice"], WHITE),
    ("hint", [".hint"], WHITE),
    ("hint on the page background", ["body", ".hint"], WHITE),
    ("badge", [".badge"], WHITE),
    ("badge: CRC", [".badge", ".badge.crc"], WHITE),
    ("badge: clock paused", [".badge", ".badge.paused"], WHITE),
    ("badge: warning", [".badge", ".badge.warn"], WHITE),
    ("badge: new", [".badge", ".badge.new"], WHITE),
    ("badge: escalated notice", [".badge", ".badge.kind-escalated"], WHITE),
    ("state", [".state"], WHITE),
    ("state: open", [".state", ".state-open"], WHITE),
    ("state: replied", [".state", ".state-replied"], WHITE),
    ("state: escalated", [".state", ".state-escalated"], WHITE),
    ("state: judged", [".state", ".state-judged"], WHITE),
    ("urgency: overdue", [".urgency-overdue td"], WHITE),
    ("urgency: under an hour", [".urgency-critical td"], WHITE),
    ("urgency: under 25 % left", [".urgency-warning td"], WHITE),
    ("link in an overdue row", ["a", ".urgency-overdue td"], WHITE),
    ("link in an urgent row", ["a", ".urgency-critical td"], WHITE),
    ("link in a warning row", ["a", ".urgency-warning td"], WHITE),
    ("muted in an overdue row", [".urgency-overdue td", ".hint"], WHITE),
    ("duty on", [".duty-on"], WHITE),
    ("duty off", [".duty-off"], WHITE),
]


def text_and_background(rules, variables, cascade, backdrop) -> tuple[str, str]:
    text = css_colour(rules["body"]["color"], variables)
    background = backdrop
    for selector in cascade:
        declarations = rules[selector]
        if "color" in declarations:
            text = css_colour(declarations["color"], variables) or text
        for name in ("background", "background-color"):
            if name in declarations:
                background = css_colour(declarations[name], variables) or background
    return text, background


def test_button_colours_meet_contrast():
    """WCAG 1.4.3: 4.5:1 for text on every button, link-button, badge, state and urgency
    colour of static/css/xietong.css, read from the stylesheet itself."""
    rules = css_rules(CSS.read_text())
    variables = {k: v for k, v in rules[":root"].items() if k.startswith("--")}
    missing = {s for _, cascade, _ in TEXT_ON_BACKGROUND for s in cascade} - rules.keys()
    assert not missing, f"rules gone from xietong.css: {sorted(missing)}"
    failures = []
    for name, cascade, backdrop in TEXT_ON_BACKGROUND:
        text, background = text_and_background(rules, variables, cascade, backdrop)
        ratio = contrast(text, background)
        if ratio < 4.5:
            failures.append(f"{name}: {text} on {background} is {ratio:.2f}:1")
    assert failures == []


def test_every_rule_that_sets_text_and_background_meets_contrast():
    # Catches a new badge or button added later with both colours in one rule.
    rules = css_rules(CSS.read_text())
    variables = {k: v for k, v in rules[":root"].items() if k.startswith("--")}
    failures = []
    for selector, declarations in rules.items():
        text = css_colour(declarations.get("color", ""), variables)
        background = css_colour(
            declarations.get("background", declarations.get("background-color", "")), variables
        )
        if text and background and contrast(text, background) < 4.5:
            failures.append(f"{selector}: {text} on {background}")
    assert failures == []


# --- SITE_URL follows PORT --------------------------------------------------------------

SITE_URL_PROBE = (
    "import django; django.setup(); from django.conf import settings; print(settings.SITE_URL)"
)


def site_url_with(env: dict[str, str]) -> str:
    # A fresh interpreter: settings read the environment once, at import.
    dropped = ("DATABASE_URL", "REDIS_URL", "SITE_URL", "PORT", "HONCHO_PROCESS_NAME")
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    result = subprocess.run(
        [sys.executable, "-c", SITE_URL_PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8001"}, "http://127.0.0.1:8001"),
        ({"PORT": "8001", "SITE_URL": "https://xietong.example"}, "https://xietong.example"),
        # `PORT=8001 make run`: honcho gives web 8001, worker 8101, beat 8201; the worker
        # writes the reminder links, which must name the web's port.
        ({"PORT": "8001", "HONCHO_PROCESS_NAME": "web.1"}, "http://127.0.0.1:8001"),
        ({"PORT": "8101", "HONCHO_PROCESS_NAME": "worker.1"}, "http://127.0.0.1:8001"),
        ({"PORT": "8201", "HONCHO_PROCESS_NAME": "beat.1"}, "http://127.0.0.1:8001"),
        ({"PORT": "8100", "HONCHO_PROCESS_NAME": "worker.1"}, "http://127.0.0.1:8000"),
    ],
    ids=[
        "default",
        "port",
        "site-url-wins",
        "honcho-web",
        "honcho-worker",
        "honcho-beat",
        "make-run-default",
    ],
)
def test_site_url_follows_port(env, expected):
    assert site_url_with(env) == expected


def test_honcho_really_numbers_ports_that_way(tmp_path):
    """The arithmetic above is honcho's (environ.expand_processes): checked against the
    installed honcho, with the project's own Procfile, so an upgrade can't drift."""
    from honcho.environ import expand_processes, parse_procfile

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    ports = {
        p.name: int(p.env["PORT"])
        for p in expand_processes(procfile.processes, env={"PORT": "8001"})
    }
    assert ports["web.1"] == 8001
    for name, port in ports.items():
        env = {"PORT": str(port), "HONCHO_PROCESS_NAME": name, "XIETONG_VAR_DIR": str(tmp_path)}
        assert site_url_with(env) == "http://127.0.0.1:8001", name
