"""Rules for Discord replies and midjourney-proxy's, which relays Discord's (provider-errors.md §6).

midjourney-proxy answers a submit with HTTP 200 and its own `code` (§6.1); Discord's failures reach
the client later, as a task whose `status` is FAILURE and whose `failReason` is Discord's message
(§6.2). Discord's own bodies are `{"message", "code"}` (§6.3). Called from reply_rules.RULES.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seawall.decide.reply_rules import Found, Reply


# midjourney-proxy submit codes (§6.1; HTTP 200 even when they fail) and task failReasons (§6.2).
_MJ_CODES: dict[str, Found] = {
    "4": ("request.invalid", "midjourney-proxy code 4: the submitted parameters are invalid"),
    "9": ("upstream.server_error", "midjourney-proxy code 9: the proxy failed internally"),
    "23": ("capacity.queue_full", "midjourney-proxy code 23: its task queue is full"),
    "24": ("request.content_filter", "midjourney-proxy code 24: the prompt may contain banned words"),
    "30": ("rate_limit.unspecified", "new-api code 30: the Midjourney group is saturated"),
}
_MJ_FAIL_REASONS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), c, w) for p, c, w in (
        (r"missing access|missing permissions", "permission.channel",
         "Discord refused the interaction: the account cannot see or use the channel"),
        (r"unknown (?:channel|guild)", "route.not_found", "Discord does not know the channel or server id"),
        (r"unauthorized", "auth.key_invalid", "Discord rejected the user token"),
        (r"任务超时|timed? ?out", "upstream.timeout", "the task timed out waiting for Midjourney"),
        (r"banned|敏感词", "request.content_filter", "Midjourney refused the prompt"),
        (r"queue full|队列已满", "capacity.queue_full", "the Midjourney queue is full"),
        (r"invalid parameter|参数", "request.invalid", "Midjourney refused a parameter"),
        (r"rate limit|429", "rate_limit.requests", "Discord rate-limited the account"),
        (r"captcha|verify|验证", "permission.policy", "Discord asks the account to verify (captcha)"),
        (r"internal server error", "upstream.server_error", "midjourney-proxy failed internally"),
    ))


# A failReason is Discord's `message` (§6.2), sometimes with its code ("Missing Access 50001"):
# either names a row of the Discord table, read before the looser failReason patterns above,
# which miss some (Invalid Form Body), as they miss the seeds' "bot not in server".
_DISCORD_CODE_IN_TEXT = re.compile(r"\b(\d{5})\b")
_DISCORD_MESSAGES = {"missing access": "50001", "missing permissions": "50013", "unknown channel": "10003",
                     "unknown guild": "10004", "unknown message": "10008", "unknown interaction": "10062",
                     "invalid form body": "50035"}  # §6.3's runtime messages
_NOT_A_MEMBER = re.compile(r"\bnot (?:in|a member of) (?:the |this |that )?(?:discord )?(?:server|guild)\b",
                           re.IGNORECASE)


def discord_code_in(text: str) -> str | None:
    """The Discord code a failReason names, by number or by Discord's own message."""
    coded = _DISCORD_CODE_IN_TEXT.search(text)
    if coded and coded.group(1) in DISCORD_CODES:
        return coded.group(1)
    lowered = text.lower()
    return next((c for m, c in _DISCORD_MESSAGES.items() if m in lowered), None)


def midjourney(r: Reply) -> Found | None:
    f = r.f
    if f.shape != "midjourney-proxy":
        return None
    if f.status_name:  # a task: only FAILURE is a failure
        if f.status_name != "FAILURE":
            return None
        code = discord_code_in(r.text)
        if code is not None:
            category, why = DISCORD_CODES[code]
            return category, f"task FAILURE: {why}"
        if _NOT_A_MEMBER.search(r.text):
            return "permission.channel", "task FAILURE: the Discord account is not a member of the server"
        for pattern, category, why in _MJ_FAIL_REASONS:
            if pattern.search(r.text):
                return category, f"task FAILURE: {why}"
        return "upstream.server_error", "task FAILURE with a failReason that names no known cause"
    if f.code == "3":
        if re.search(r"账号|实例|account|instance", r.text, re.IGNORECASE):
            return "capacity.circuit_open", "midjourney-proxy code 3: no Discord account instance is available"
        return "request.invalid", "midjourney-proxy code 3: the task it refers to does not exist"
    if f.code in _MJ_CODES:
        return _MJ_CODES[f.code]
    if f.code in DISCORD_CODES:  # other codes are Discord's, copied through (§6.1 last row)
        return DISCORD_CODES[f.code]
    status = int(f.code) if f.code.isdigit() else 0
    if status in _DISCORD_STATUS:
        return _DISCORD_STATUS[status]
    return None


# Discord JSON codes (§6.3), also what midjourney-proxy copies into its own `code`.
DISCORD_CODES: dict[str, Found] = {
    "40001": ("auth.key_invalid", "Discord 40001: unauthorized (the token is invalid)"),
    "10003": ("route.not_found", "Discord 10003 Unknown Channel: the channel id is wrong"),
    "10004": ("route.not_found", "Discord 10004 Unknown Guild: the server id is wrong"),
    "10008": ("route.not_found", "Discord 10008 Unknown Message: the message id is wrong"),
    "10062": ("route.not_found", "Discord 10062 Unknown Interaction"),
    "50001": ("permission.channel", "Discord 50001 Missing Access: not in the server or cannot view the channel"),
    "50013": ("permission.channel", "Discord 50013 Missing Permissions: cannot send or use commands there"),
    "40002": ("permission.policy", "Discord 40002: the account must be verified"),
    "50035": ("request.invalid", "Discord 50035 Invalid Form Body"),
    "20028": ("rate_limit.requests", "Discord 20028: the channel's write rate limit"),
}
_DISCORD_STATUS: dict[int, Found] = {
    401: ("auth.key_invalid", "Discord answered 401: the user token is invalid"),
    403: ("permission.channel", "Discord answered 403: the account may not use the channel"),
    404: ("route.not_found", "Discord answered 404: unknown channel or server"),
    429: ("rate_limit.requests", "Discord rate-limited the account"),
}


def discord(r: Reply) -> Found | None:
    if r.f.shape != "discord" and r.provider != "discord":
        return None
    if r.f.code == "0" and r.status in (401, 0):
        return "auth.key_invalid", "Discord 0 with 401: the token is invalid"
    return DISCORD_CODES.get(r.f.code)
