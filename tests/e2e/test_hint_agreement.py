"""One classifier, one checklist: for an upstream failure, the category the gateway answers with,
what `seawall explain` says about the gateway's answer, and what it says about the provider's own
reply (the simulator's, fetched directly) agree; and explain puts the gateway's hint first."""

import json

import pytest
from conftest import http

from seawall.tools.explain import explain

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}

FAULTS = [  # simulator faults an upstream can produce, one per taxonomy family
    "status=429;retry_after=5",
    "status=429;error=insufficient_quota",
    "status=500",
    "status=503",
    "status=529",
    "status=401",
    "status=403",
    "status=400",
    "status=404",
    "html=502",
    "html=524",
    "error=context_length_exceeded",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_gateway_explain_and_the_providers_own_reply_agree(gateway, simulator, sim, fault):
    status, headers, raw = http("POST", simulator.url + "/v1/chat/completions", BODY,
                                {"authorization": "Bearer sk-sim-upstream", "x-sim-fault": fault})
    upstream = explain(raw, status, headers, url=simulator.url + "/v1/chat/completions")
    assert upstream.category, (fault, raw[:200])

    sim.set_faults([{"match": {"model": "gpt-4o"}, "fault": fault}])
    body = {**BODY, "model": "strict"}
    g_status, g_headers, g_raw = http("POST", gateway.base_url + "/chat/completions", body,
                                      {"authorization": f"Bearer {gateway.key}"})
    answer = json.loads(g_raw)["error"]
    explained = explain(g_raw, g_status, g_headers)
    assert answer["category"] == upstream.category == explained.category, (fault, answer, upstream)
    assert explained.checks[0] == answer["hint"]  # the gateway's own hint comes first
    assert explained.request_id == g_headers["x-request-id"]
