"""fit_context: pure decisions over token counts, no I/O."""

import pytest

from seawall.decide.fit import (
    FallBack,
    Fits,
    OutputTooLarge,
    Policy,
    Prompt,
    TooLong,
    Trimmed,
    Truncated,
    Window,
    fit_context,
    surely_fits,
    tool_units,
)

WINDOW = Window(context=100, max_output=50)


def prompt(*messages: tuple[str, int], fixed: int = 3, output: int | None = None, calls: tuple[int, ...] = ()):
    """messages: (role, tokens); calls: indexes of assistant messages carrying tool_calls."""
    return Prompt([r for r, _ in messages], [t for _, t in messages], fixed, output,
                  [i in calls for i in range(len(messages))])


REJECT, TRIM, TRUNCATE = Policy("reject"), Policy("trim"), Policy("truncate_output")
FALLBACK = Policy("fallback", fallback_model="big")

CASES = [  # id, prompt, policy, expected
    ("fits exactly at the boundary", prompt(("user", 47), output=50), REJECT, Fits(50)),
    ("one token over is rejected with both numbers", prompt(("user", 48), output=50), REJECT,
     TooLong(window=100, prompt_tokens=51, output=50, excess=1)),
    ("no max tokens: the prompt alone must fit", prompt(("user", 97)), REJECT, Fits(100)),
    ("no max tokens, prompt past the window", prompt(("user", 98)), REJECT, TooLong(100, 101, 0, 1)),
    ("max tokens above the model's ceiling", prompt(("user", 5), output=51), REJECT, OutputTooLarge(51, 50)),
    ("fallback names the model", prompt(("user", 98)), FALLBACK, FallBack("big", 101)),
    ("fallback not needed when it fits", prompt(("user", 10)), FALLBACK, Fits(13)),
    ("truncate lowers max tokens to what fits", prompt(("user", 57), output=50), TRUNCATE, Truncated(40, 60)),
    ("truncate lowers to the ceiling too", prompt(("user", 7), output=80), TRUNCATE, Truncated(50, 10)),
    ("truncate leaves a fitting request alone", prompt(("user", 7), output=20), TRUNCATE, Fits(10)),
    ("truncate can't help a prompt filling the window", prompt(("user", 97), output=20), TRUNCATE,
     TooLong(100, 100, 20, 1)),
    ("truncate without max tokens acts like reject", prompt(("user", 98)), TRUNCATE, TooLong(100, 101, 0, 1)),
]


@pytest.mark.parametrize("p,policy,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fit_context(p, policy, expected):
    assert fit_context(p, WINDOW, policy) == expected


def test_trim_drops_oldest_turns_and_keeps_the_system_prompt():
    p = prompt(("system", 10), ("user", 30), ("assistant", 30), ("user", 30), ("assistant", 20), ("user", 10))
    # total 133: must lose 33 -> drop messages 1 and 2 (60), not the system prompt
    assert fit_context(p, WINDOW, TRIM) == Trimmed(dropped=(1, 2), prompt_tokens=73)


def test_trim_exact_boundary_drops_nothing_more():
    p = prompt(("system", 10), ("user", 30), ("assistant", 30), ("user", 27))
    # 10+30+30+27+3 = 100 = window: fits without trimming
    assert fit_context(p, WINDOW, TRIM) == Fits(100)
    p = prompt(("system", 10), ("user", 30), ("assistant", 30), ("user", 28))
    assert fit_context(p, WINDOW, TRIM) == Trimmed((1,), 71)


def test_trim_counts_requested_output():
    p = prompt(("system", 10), ("user", 30), ("user", 20), output=40)
    # 63 + 40 > 100: drop message 1 -> 33 + 40 = 73
    assert fit_context(p, WINDOW, TRIM) == Trimmed((1,), 33)


def test_trim_keeps_a_tool_call_with_its_results():
    p = prompt(("system", 5), ("user", 10), ("assistant", 20), ("tool", 30), ("tool", 30), ("user", 10),
               calls=(2,))
    # 108 total: dropping message 1 (10) is enough, the call group stays whole
    assert fit_context(p, WINDOW, TRIM) == Trimmed((1,), 98)
    p = prompt(("system", 5), ("assistant", 20), ("tool", 30), ("tool", 30), ("user", 20), calls=(1,))
    # 108: the only droppable unit is the call with both results: all three go together
    assert fit_context(p, WINDOW, TRIM) == Trimmed((1, 2, 3), 28)


def test_trim_never_drops_the_last_message_or_pinned_ones():
    p = prompt(("system", 40), ("user", 70))
    assert fit_context(p, WINDOW, TRIM) == TooLong(100, 113, 0, 13)
    pinned = Policy("trim", keep_first=1)
    p = prompt(("system", 10), ("user", 40), ("assistant", 30), ("user", 30))
    # 113: message 1 is pinned by keep_first=1, so message 2 goes
    assert fit_context(p, WINDOW, pinned) == Trimmed((2,), 83)


def test_trim_keeps_developer_messages_anywhere():
    p = prompt(("user", 30), ("developer", 30), ("assistant", 30), ("user", 20))
    assert fit_context(p, WINDOW, TRIM) == Trimmed((0,), 83)


def test_tool_units_group_calls_with_their_results():
    roles = ["system", "user", "assistant", "tool", "tool", "assistant", "user", "tool"]
    assert tool_units(roles, [False, False, True, False, False, False, False, False]) == [
        [0], [1], [2, 3, 4], [5], [6], [7]]


@pytest.mark.parametrize("ceiling,output,expected", [
    (50, 50, True),  # exactly the window
    (51, 50, False),
    (100, None, True),
    (101, None, False),
    (10, 51, False),  # past the output ceiling: must be decided by fit_context
])
def test_surely_fits(ceiling, output, expected):
    assert surely_fits(ceiling, output, WINDOW) is expected
