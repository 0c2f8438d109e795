"""The `network:` settings made usable: one Route per deployment (its proxy rule and TLS context),
the same for every other outbound call (webhooks, doctor), so they all leave the same way.

Built once at start; TLS contexts are shared by every route whose settings are the same. A
deployment's `tls` block overrides network.tls field by field, like timeouts.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from seawall.config import Deployment, NetworkSettings, TLSSettings
from seawall.decide import proxy as proxy_rules
from seawall.providers.http1_client import Route

log = logging.getLogger("seawall")


class Network:
    """Routes for the gateway's outbound calls, from `network:` and the environment."""

    def __init__(self, settings: NetworkSettings | None = None, environ: Mapping[str, str] | None = None):
        self.settings = settings = settings or NetworkSettings()
        env, env_no_proxy = proxy_rules.from_environment(environ or {}) if settings.trust_env else ({}, [])
        self._env, self._no_proxy = env, [*env_no_proxy, *settings.no_proxy]
        self._contexts: dict[TLSSettings, tuple[ssl.SSLContext | None, str]] = {}
        self.unverified: list[str] = []  # who calls without checking certificates (start-up and /readyz say so)
        self.default = self.route()

    def route(self, own_proxy: str | None = None, own_tls: TLSSettings | None = None, setting: str = "",
              who: str = "network.tls") -> Route:
        tls = merge_tls(self.settings.tls, own_tls)
        context, trusts = self._context(tls)
        if not tls.verify and who not in self.unverified:
            self.unverified.append(who)
        choose = functools.partial(proxy_rules.choose, own=own_proxy, own_setting=setting,
                                   server=self.settings.proxy, env=self._env, no_proxy=self._no_proxy)
        return Route(choose, context, trusts)

    def for_deployment(self, spec: Deployment) -> Route:
        if spec.provider == "simulator" and not spec.base_url:  # the embedded simulator, on this machine
            return self.route(proxy_rules.DIRECT, spec.tls, who=spec.label)
        return self.route(spec.proxy, spec.tls, f"the proxy of deployment {spec.label}", who=spec.label)

    def describe(self, route: Route, url: str) -> str:
        """How a call to url leaves on this route, for start-up logs and the admin view."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        chosen = route.choose(parts.scheme, parts.hostname or "", port)
        return "direct" if chosen is None else f"{chosen.shown} ({chosen.setting})"

    def _context(self, tls: TLSSettings) -> tuple[ssl.SSLContext | None, str]:
        found = self._contexts.get(tls)
        if found is None:
            found = self._contexts[tls] = tls_context(tls)
        return found


def merge_tls(server: TLSSettings, own: TLSSettings | None) -> TLSSettings:
    if own is None:
        return server
    return server.model_copy(update=own.model_dump(include=own.model_fields_set))


def tls_context(tls: TLSSettings) -> tuple[ssl.SSLContext | None, str]:
    """(the context, what it trusts) for these settings; None: the client's default (the system's
    CAs, loaded on first use)."""
    if tls == TLSSettings():
        return None, "the system's CA certificates"
    if tls.ca_file or tls.ca_dir:
        try:
            context = ssl.create_default_context(cafile=tls.ca_file, capath=tls.ca_dir)
        except (ssl.SSLError, OSError) as e:
            raise TLSSettingsError(f"tls.ca_file {tls.ca_file} holds no usable CA certificate (PEM): "
                                   f"{getattr(e, 'reason', None) or e}") from None
        trusts = " and ".join(f"{what} {path}" for what, path in (("ca_file", tls.ca_file), ("ca_dir", tls.ca_dir))
                              if path)
    else:
        context, trusts = ssl.create_default_context(), "the system's CA certificates"
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        trusts = "nothing (verify: false)"
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (ssl.SSLError, OSError) as e:
            raise TLSSettingsError(f"tls.cert_file {tls.cert_file} / key_file {tls.key_file or '(in cert_file)'} can't "
                                   f"be used as a client certificate: {getattr(e, 'reason', None) or e}") from None
    return context, trusts


class TLSSettingsError(Exception):
    """TLS files that pass the config's checks but can't be loaded (not PEM, a key that doesn't match)."""
