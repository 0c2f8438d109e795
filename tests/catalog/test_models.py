"""The shipped model catalog: lookups by exact id, vendor prefix, date suffix and prefix; overrides."""

import pytest

from seawall.catalog.models import TOKENIZERS, load_catalog, with_overrides

LOOKUPS = [  # asked, entry
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
    ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("o4-mini", "o4-mini"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5-chat-latest", "gpt-5-chat-latest"),
    ("text-embedding-3-small", "text-embedding-3-small"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("claude-haiku-4-5", "claude-haiku-4-5"),
    ("gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("models/gemini-2.0-flash", "gemini-2.0-flash"),
    ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
    ("gemini-2.5-pro", "gemini-2.5-pro"),
]


@pytest.mark.parametrize("asked,entry", LOOKUPS)
def test_find(asked, entry):
    assert load_catalog().find(asked).id == entry


@pytest.mark.parametrize("asked", ["llama-3.1-70b", "my-finetune", "gpt", "claude"])
def test_unknown_models_are_not_guessed(asked):
    assert load_catalog().find(asked) is None


def test_entries_are_complete():
    catalog = load_catalog()
    assert len(catalog) >= 40
    for provider, model in [("openai", "gpt-4o"), ("anthropic", "claude-opus-4"), ("gemini", "gemini-2.5-pro")]:
        info = catalog.find(model)
        assert info.provider == provider
        assert info.tokenizer in TOKENIZERS and info.context_window > info.max_output_tokens > 0
        assert info.price_in > 0 and info.price_out > info.price_in
    assert catalog.find("o3").reasoning and not catalog.find("gpt-4o").reasoning
    assert not catalog.find("gpt-5-chat-latest").reasoning


def test_overrides_apply_in_order():
    base = load_catalog().find("gpt-4o")
    info = with_overrides(base, "gpt-4o", {"context_window": 1000, "price_in": 1.0}, {"context_window": 500})
    assert (info.context_window, info.price_in, info.tokenizer) == (500, 1.0, "o200k_base")
    assert with_overrides(base, "gpt-4o", None, {}) is base


def test_an_unknown_model_is_known_once_the_config_gives_a_window():
    assert with_overrides(None, "my-llama", {"price_in": 1.0}) is None
    info = with_overrides(None, "my-llama", {"context_window": 8192}, {"tokenizer": "cl100k_base"})
    assert (info.context_window, info.max_output_tokens, info.tokenizer) == (8192, 8192, "cl100k_base")
