"""Group-bot messages for WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书).

Chinese merchant teams live in these group chats, so a reminder posted there
is read long before an email. Pure functions: build the request (URL and JSON
body) for each bot kind and judge its answer; the HTTP call is elsewhere.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote_plus

WECOM = "wecom"
DINGTALK = "dingtalk"
FEISHU = "feishu"
KINDS = (WECOM, DINGTALK, FEISHU)

# Every bot request carries its outbox row's unique key in this header: a message sent
# again (its worker died between the answer and recording it) comes with the same
# key, so a receiver that keeps the keys it has seen can drop the repeat.
DELIVERY_KEY_HEADER = "X-Xietong-Delivery"


@dataclass(frozen=True)
class BotRequest:
    url: str
    body: dict


def build_request(
    *, kind: str, url: str, secret: str, title: str, text: str, link: str, timestamp_ms: int
) -> BotRequest:
    """The request that posts ``title``/``text`` with a link to the ticket.

    ``timestamp_ms`` is passed in (not read from the clock) so signing is testable.
    """
    if kind == WECOM:
        # WeCom group robot: markdown message, the key is already in the URL.
        content = f"**{title}**\n{text}\n[{link}]({link})"
        return BotRequest(url=url, body={"msgtype": "markdown", "markdown": {"content": content}})
    if kind == DINGTALK:
        # DingTalk custom robot: with "加签" the URL carries timestamp and
        # sign = base64(HMAC-SHA256(secret, f"{timestamp}\n{secret}")).
        if secret:
            sign = _hmac_b64(key=secret, message=f"{timestamp_ms}\n{secret}")
            separator = "&" if "?" in url else "?"
            url = f"{url}{separator}timestamp={timestamp_ms}&sign={quote_plus(sign)}"
        body = {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": f"### {title}\n{text}\n\n[{link}]({link})"},
        }
        return BotRequest(url=url, body=body)
    if kind == FEISHU:
        # Feishu custom bot: signature in the body, timestamp in seconds, and the
        # HMAC key is f"{timestamp}\n{secret}" over an empty message.
        body: dict = {
            "msg_type": "post",
            "content": {
                "post": {
                    "zh_cn": {
                        "title": title,
                        "content": [
                            [{"tag": "text", "text": text}],
                            [{"tag": "a", "text": link, "href": link}],
                        ],
                    }
                }
            },
        }
        if secret:
            seconds = timestamp_ms // 1000
            body["timestamp"] = str(seconds)
            body["sign"] = _hmac_b64(key=f"{seconds}\n{secret}", message="")
        return BotRequest(url=url, body=body)
    raise ValueError(f"Unknown bot kind {kind!r}")


def answer_ok(*, kind: str, status: int, payload: dict | None) -> bool:
    """Each bot answers HTTP 200 even on errors; the JSON body says whether it posted."""
    if status != 200 or not isinstance(payload, dict):
        return False
    if kind in (WECOM, DINGTALK):
        return payload.get("errcode") == 0
    if kind == FEISHU:
        return payload.get("code", payload.get("StatusCode")) == 0
    return False


def _hmac_b64(*, key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
