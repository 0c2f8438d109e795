"""Pre-flight overrides per key and group, as pure decisions: key over group over model over
server, field by field; fallback only to the model's own fallback_model; a key's body limit only
lowers the server's."""

import pytest

from seawall.decide.fit import Policy
from seawall.decide.key_policy import (
    POLICY_FIELDS,
    KeyPolicy,
    Sizes,
    body_limit,
    body_too_large,
    compile_policy,
    context_policy,
    sizes,
    stored_policy,
)
from seawall.store.base import POLICY_COLUMNS, GroupRecord

MODEL = Sizes(max_messages=2048, max_images=500, max_image_bytes=20_000_000)


def test_the_store_columns_and_the_policy_fields_are_the_same_names():
    assert POLICY_FIELDS == POLICY_COLUMNS


def test_nothing_set_anywhere_compiles_to_none():
    assert compile_policy(KeyPolicy(), None) is None
    assert compile_policy(KeyPolicy(), KeyPolicy()) is None


def test_the_key_overrides_its_group_field_by_field():
    key = KeyPolicy(context_policy="trim", max_messages=10)
    group = KeyPolicy(context_policy="truncate_output", max_messages=50, max_images=2, max_body_bytes=4096)
    merged = compile_policy(key, group)
    assert merged == KeyPolicy("trim", 10, 2, None, 4096, body_limit_of="group")


def test_a_group_alone_applies_to_its_keys():
    merged = compile_policy(KeyPolicy(), KeyPolicy(max_messages=3))
    assert merged is not None and merged.max_messages == 3 and merged.context_policy is None


def test_a_key_without_a_group_keeps_its_own():
    own = KeyPolicy(max_body_bytes=100)
    merged = compile_policy(own, None)
    assert merged == own and merged.body_limit_of == "key"


def test_the_key_body_limit_is_named_as_the_keys_even_in_a_group_that_sets_one():
    merged = compile_policy(KeyPolicy(max_body_bytes=100), KeyPolicy(max_body_bytes=5000))
    assert (merged.max_body_bytes, merged.body_limit_of) == (100, "key")


def test_sizes_fall_back_to_the_models_for_what_the_key_leaves_unset():
    assert sizes(MODEL, KeyPolicy(max_messages=5)) == Sizes(5, 500, 20_000_000)
    assert sizes(MODEL, KeyPolicy(max_images=0, max_image_bytes=10)) == Sizes(2048, 0, 10)


def test_a_key_may_allow_more_messages_than_the_model():
    # "overrides", not "narrows": the operator set the key's limit on purpose
    assert sizes(Sizes(5, 1, 1000), KeyPolicy(max_messages=100)).max_messages == 100


@pytest.mark.parametrize("name", ["trim", "truncate_output", "reject"])
def test_the_keys_policy_name_replaces_the_models_and_keeps_its_settings(name):
    model = Policy("fallback", "roomy", keep_first=2)
    assert context_policy(model, name) == Policy(name, "roomy", 2)


def test_no_key_policy_or_the_same_one_is_the_models_own_object():
    model = Policy("trim", None, 1)
    assert context_policy(model, None) is model
    assert context_policy(model, "trim") is model


def test_fallback_uses_the_models_fallback_model_and_rejects_without_one():
    assert context_policy(Policy("reject", "roomy"), "fallback") == Policy("fallback", "roomy")
    assert context_policy(Policy("trim", None, 3), "fallback") == Policy("reject", None, 3)


def test_the_body_limit_only_ever_lowers_the_servers():
    assert body_limit(1000, None) == 1000
    assert body_limit(1000, KeyPolicy(max_messages=3)) == 1000
    assert body_limit(1000, KeyPolicy(max_body_bytes=200)) == 200
    assert body_limit(1000, KeyPolicy(max_body_bytes=5000)) == 1000


def test_the_413_names_whose_limit_it_is():
    err = body_too_large(KeyPolicy(max_body_bytes=512), "ci-bot", "team")
    assert (err.status, err.code, err.category) == (413, "key_body_too_large", "request.too_large")
    assert "512 bytes" in err.message and "key 'ci-bot'" in err.message
    assert "max_body_bytes of the key 'ci-bot'" in err.hint
    group_err = body_too_large(KeyPolicy(max_body_bytes=512, body_limit_of="group"), "ci-bot", "team")
    assert "group 'team'" in group_err.message and "seawall groups update" in group_err.hint


def test_stored_policy_reads_a_record():
    group = GroupRecord(name="g", created_at=0.0, context_policy="trim", max_images=1)
    assert stored_policy(group) == KeyPolicy(context_policy="trim", max_images=1)
