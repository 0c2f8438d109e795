"""The SDK-visible message: the catalog's message, then the most useful next step (errors.py)."""

import pytest

from seawall.errors import CATALOG, NEXT_STEP_MAX, SeawallError, with_next_step

LONG_ONE_SENTENCE = "Check the model name; this gateway serves: " + ", ".join(f"model-{i:02d}" for i in range(30)) + "."


@pytest.mark.parametrize("message, hint, shown", [
    # the whole hint when it is short: the did-you-mean a misspelled model needs
    ("The model `gpt-4o-mni` does not exist or you do not have access to it.",
     "Did you mean 'gpt-4o-mini'? Model names are exact.",
     "The model `gpt-4o-mni` does not exist or you do not have access to it. Did you mean 'gpt-4o-mini'? "
     "Model names are exact."),
    # an upstream's message without a full stop gets one before the step
    ("Incorrect API key provided: sk-abc", "Check the key.", "Incorrect API key provided: sk-abc. Check the key."),
    ("内容违规。", "Rephrase the prompt.", "内容违规。 Rephrase the prompt."),
    ("可能包含敏感词", "Rephrase the prompt.", "可能包含敏感词。Rephrase the prompt."),
    # nothing to add: no hint, or a hint the message already says (case, punctuation aside)
    ("Retry in a few seconds.", "", "Retry in a few seconds."),
    ("Bad gateway. Retry with backoff.", "retry with backoff", "Bad gateway. Retry with backoff."),
    # a long hint: its first sentence, the step it leads with
    ("The upstream is at capacity.",
     "Retry after Retry-After or lower the client's parallelism. " + "Operators: raise the limits. " * 8,
     "The upstream is at capacity. Retry after Retry-After or lower the client's parallelism."),
])
def test_message_then_next_step(message, hint, shown):
    assert with_next_step(message, hint) == shown


def test_a_long_single_sentence_is_cut_at_a_word():
    shown = with_next_step("The model `x` does not exist.", LONG_ONE_SENTENCE)
    step = shown.removeprefix("The model `x` does not exist. ")
    assert step.endswith("…") and len(step) <= NEXT_STEP_MAX
    assert LONG_ONE_SENTENCE.startswith(step.removesuffix("…")) and not step.removesuffix("…").endswith(",")


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_catalog_message_carries_its_step_within_bounds(code):
    """The message first and whole, the step after it: never longer than NEXT_STEP_MAX."""
    err = SeawallError(code, {"hint": "Check the thing.", "message": "It failed.", "fix": "Fix it."})
    shown = err.sdk_message
    assert shown.startswith(err.message)
    assert len(shown) - len(err.message) <= NEXT_STEP_MAX + 2
    assert shown != err.message  # every catalog entry has a step to show
