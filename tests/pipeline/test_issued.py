"""The issued-id map (pipeline/issued.py), in memory: bounded, least recently used dropped first,
and found only by whom decide/ownership.py lets see it, else exactly as an unknown id."""

from seawall.config import Deployment, ResolvedDeployment
from seawall.decide.ownership import Owner
from seawall.pipeline.issued import Issued, IssuedIds


def target(name: str) -> ResolvedDeployment:
    dep = Deployment(provider="midjourney", base_url="http://mj", model="midjourney", api_key_env="K", name=name)
    return ResolvedDeployment("midjourney", dep, dep.base_url, "secret")


ME = Owner("k1", "acme")


async def test_ids_are_bounded_least_recently_used():
    ids = IssuedIds(limit=2)
    a, b = target("a"), target("b")
    await ids.remember("1", Issued(a, ME))
    await ids.remember("2", Issued(b, ME))
    assert (await ids.find("1", ME)).target is a  # now the most recently used
    await ids.remember("3", Issued(b, ME))
    assert await ids.find("2", ME) is None and (await ids.find("1", ME)).target is a and len(ids) == 2
    await ids.forget("1")
    assert await ids.find("1", ME) is None


async def test_an_id_is_found_only_for_its_owner_under_the_operators_rule():
    ids = IssuedIds(limit=10)
    await ids.remember("1", Issued(target("a"), Owner("k-acme", "acme", "art"), "gpt-4o-mini"))
    assert await ids.find("1", Owner("k-globex", "globex", "art")) is None  # as unknown as an id never given out
    assert await ids.find("1", Owner("k-acme-2", "acme", "art")) is None
    assert (await ids.find("1", Owner("k-acme-2", "acme", "art"), "group")).model == "gpt-4o-mini"
    assert await ids.find("1", Owner("k-acme-3", "acme", "ops"), "tenant") is not None
    assert await ids.find("1", Owner("k-globex", "globex", "art"), "tenant") is None
    assert await ids.find("never-issued", Owner("k-acme", "acme", "art")) is None
