"""decide/disclosure.py: what of an upstream's error a client sees, per server.upstream_error_detail."""

import pytest

from seawall.decide.disclosure import client_view
from seawall.errors import SeawallError, error

UPSTREAM = SeawallError("upstream_error", {"message": "Your org org-123 is out of credit at relay.example",
                                           "hint": "The provider account's balance is spent."},
                        param="model", headers={"retry-after": "5"}, status_override=429,
                        type_override="insufficient_quota", category_override="quota.exhausted",
                        provider_code="insufficient_quota")


def test_full_shows_the_upstreams_words():
    assert client_view(UPSTREAM, "full") is UPSTREAM


def test_category_and_hint_shows_seawalls_words_and_the_category():
    seen = client_view(UPSTREAM, "category_and_hint")
    assert seen.message == "The upstream could not serve this request (quota.exhausted)."
    assert (seen.status, seen.category, seen.hint) == (429, "quota.exhausted", "The provider account's balance is spent.")
    assert seen.param is None and seen.provider_code is None and seen.headers == {"retry-after": "5"}


def test_generic_says_one_sentence_and_only_what_the_status_implies():
    seen = client_view(UPSTREAM, "generic")
    assert seen.message == "The upstream could not serve this request."
    assert (seen.status, seen.category, seen.type) == (429, "rate_limit.unspecified", "invalid_request_error")
    assert "credit" not in seen.hint and seen.headers == {"retry-after": "5"}


@pytest.mark.parametrize("level", ["category_and_hint", "generic"])
@pytest.mark.parametrize("err", [error("invalid_api_key", masked="sk-sw-…"), error("rate_limit_requests"),
                                 SeawallError("upstream_timeout", {"deployment": "d", "seconds": 5}),
                                 error("internal_error")])
def test_the_gateways_own_errors_are_never_rewritten(level, err):
    assert client_view(err, level) is err


@pytest.mark.parametrize("code", ["upstream_auth_failed", "upstream_refused", "upstream_malformed",
                                  "stream_interrupted"])
def test_every_error_carrying_upstream_words_is_rewritten(code):
    err = SeawallError(code, {"deployment": "d", "message": "m", "detail": "x", "check": "c"})
    assert client_view(err, "generic").message == "The upstream could not serve this request."
