"""The admin API's client, for the CLI: one HTTP call per command (stdlib urllib, so the CLI
starts fast), and every failure turned into a sentence instead of a traceback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8100"


class AdminCallFailed(Exception):
    """The call did not succeed; `message` says why, `payload` is the gateway's error body if any."""

    def __init__(self, message: str, payload: dict | None = None, exit_code: int = 1):
        super().__init__(message)
        self.message, self.payload, self.exit_code = message, payload, exit_code


@dataclass(frozen=True, slots=True)
class AdminClient:
    url: str
    admin_key: str | None
    timeout_s: float = 15.0

    def call(self, method: str, path: str, body: dict | None = None, timeout_s: float | None = None) -> dict:
        if not self.admin_key:
            raise AdminCallFailed("no admin key: pass --admin-key or set SEAWALL_ADMIN_KEY (the key `seawall "
                                  "serve` printed at its first start, or the SEAWALL_ADMIN_KEY it runs with; lost "
                                  "it? seawall admin reset-key --data-dir DIR)", None, 2)
        target = self.url.rstrip("/") + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(target, data=data, method=method, headers={
            "authorization": f"Bearer {self.admin_key}", "content-type": "application/json",
            "accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as e:
            raise _refusal(e) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise AdminCallFailed(f"cannot reach the gateway at {self.url}: {reason} — is `seawall serve` running "
                                  f"there? Point at it with --url or SEAWALL_URL.", None, 2) from None
        except ValueError:
            raise AdminCallFailed(f"{target} did not answer with JSON: is {self.url} a Seawall gateway?") from None


def _refusal(e: urllib.error.HTTPError) -> AdminCallFailed:
    raw = e.read()
    try:
        payload = json.loads(raw)
        err = payload["error"]
    except (ValueError, KeyError, TypeError):
        return AdminCallFailed(f"HTTP {e.code} from the gateway, not a Seawall error body: {raw[:200]!r}")
    lines = [f"{err.get('message')} (HTTP {e.code}, {err.get('code')})"]
    if err.get("param"):
        lines.append(f"  field: {err['param']}")
    if err.get("hint") and err["hint"] not in (err.get("message") or ""):  # the message holds a short one
        lines.append(f"  check: {err['hint']}")
    return AdminCallFailed("\n".join(lines), payload)


def quote(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def render_keys(keys: list[dict]) -> str:
    head = ("id", "name", "key", "state", "group", "tenant", "models", "ip allowlist", "limits", "pre-flight",
            "quota used", "expires")
    rows = [head] + [(k["id"], k["name"], k["display"], k["state"], k["group"] or "-", k["tenant"] or "-",
                      ",".join(k["models"]) or ("(group's)" if k["group"] else "all"), ",".join(k["ip_allowlist"]) or "any",
                      _limits(k), _preflight(k), _quota_used(k), k["expires_at"] or "never") for k in keys]
    return _table(rows) if keys else "no keys"


def render_groups(groups: list[dict]) -> str:
    head = ("name", "models", "quota tokens", "quota usd", "limits", "pre-flight")
    rows = [head] + [(g["name"], ",".join(g["models"]) or "(all)", _or_dash(g["quota_tokens"]),
                      _or_dash(g["quota_usd"]), _limits(g), _preflight(g)) for g in groups]
    return _table(rows) if groups else "no groups"


def _quota_used(k: dict) -> str:
    """'1,200/10,000 tok', '$0.42/$5.00', both, or '-' when the key sets no quota of its own."""
    parts = []
    if k.get("quota_tokens") is not None:
        parts.append(f"{k.get('used_tokens', 0):,}/{k['quota_tokens']:,} tok")
    if k.get("quota_usd") is not None:
        parts.append(f"${k.get('used_usd', 0):,.2f}/${k['quota_usd']:,.2f}")
    return " ".join(parts) or "-"


def _limits(record: dict) -> str:
    """rpm=60,tpm=10000 for what is set; '-' for none (a key's group may still limit it)."""
    names = ("rps", "rpm", "tpm", "max_concurrency")
    return ",".join(f"{n}={record[n]}" for n in names if record.get(n) is not None) or "-"


def _preflight(record: dict) -> str:
    """context_policy=trim,max_messages=100 for what is set; '-' for none (the group's or the model's apply)."""
    names = ("context_policy", "max_messages", "max_images", "max_image_bytes", "max_body_bytes")
    return ",".join(f"{n}={record[n]}" for n in names if record.get(n) is not None) or "-"


def render_record(record: dict) -> str:
    shown = {k: v for k, v in record.items() if k not in ("object", "key")}
    width = max(len(k) for k in shown)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in shown.items())


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return json.dumps(value) if value else "-"
    return _or_dash(value)


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
