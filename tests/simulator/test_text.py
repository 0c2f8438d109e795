from seawall.simulator.text import compose, count_tokens, reasoning_tokens, seed_of


def test_count_tokens_is_words_plus_punctuation():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("") == 0
    assert count_tokens("  spaced   out  ") == 2
    assert count_tokens("it's 3.5") == 6  # it ' s 3 . 5


def test_compose_is_deterministic_and_prompt_dependent():
    seed = seed_of("What is a gateway?")
    assert compose(seed) == compose(seed)
    assert compose(seed) != compose(seed_of("Something else entirely"))


def test_natural_reply_is_whole_sentences():
    text = "".join(compose(seed_of("hi")))
    assert text[0].isupper() and text.endswith(".")
    assert "  " not in text and not text.startswith(" ")


def test_pieces_recount_to_their_number():
    for prompt in ("a", "b", "what now", "longer prompt here"):
        for length in (None, 1, 7, 300):
            pieces = compose(seed_of(prompt), length)
            assert count_tokens("".join(pieces)) == len(pieces)
            if length is not None:
                assert len(pieces) == length


def test_reasoning_tokens_range():
    values = {reasoning_tokens(seed_of(str(i))) for i in range(50)}
    assert values <= {64, 128, 192, 256} and len(values) > 1
