"""Token counting: exact for OpenAI's BPE encodings, a documented estimate for everyone else.

Encodings. o200k_base (gpt-4o, gpt-4.1, o-series, gpt-5) and cl100k_base (gpt-4, gpt-3.5,
text-embedding-3) are read from encodings/*.tiktoken.gz, shipped in the package: no download can
happen at run time. Each file's content is checked against tiktoken's own expected sha256 (the
hashes in tiktoken_ext/openai_public.py) when it is loaded, once, lazily; the regex and special
tokens are tiktoken's official ones. Client text is encoded as ordinary text (`encode_ordinary`):
a prompt containing "<|endoftext|>" is counted, never refused.

Chat prompts are counted the way OpenAI bills them (OpenAI cookbook, "How to count tokens with
tiktoken", for gpt-3.5-turbo-0613 and every later chat model):
  - 3 tokens per message (<|start|>{role}\\n{content}<|end|>\\n), plus the tokens of each string
    field of the message (role, content, name, ...), plus 1 more when the message has a `name`;
  - 3 tokens that prime the reply (<|start|>assistant<|message|>);
  - tools (same cookbook, "num_tokens_for_tools"): per function 7 tokens (10 on cl100k models),
    plus tokens of "name:description"; when it has properties, 3 + per property 3 + tokens of
    "key:type:description" (enums: -3, then 3 + tokens per item); 12 closing tokens once.
    Exact for flat parameter schemas; nested schemas are counted by their JSON (an estimate).
Parts the text rule can't see are estimates: an image costs 85 tokens at detail "low" and
IMAGE_TOKENS otherwise (a 1024x1024 "high" image; real cost depends on its size); an assistant's
tool call costs its name and arguments plus TOOL_CALL_OVERHEAD.

"estimate" (Anthropic, Gemini, unknown tokenizers): ceil(UTF-8 bytes / 3) per string with the
same per-message overheads. English text runs ~4 bytes per token on these tokenizers, so
bytes/3 over-counts by about a third: the safety margin that keeps a fit check from passing a
prompt the provider then refuses (not measured here against the real tokenizers: none ship).

"large" (a prompt too large to count, pipeline/validate.py MAX_COUNT_BYTES): ceil(UTF-8 bytes / 4)
per string, OpenAI's rule of thumb. It may under-count, never refusing a prompt that fits a
large window: what doesn't fit, the provider refuses with its own context error.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from importlib import resources

import orjson
import tiktoken

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3
IMAGE_TOKENS = 765  # OpenAI's formula for a 1024x1024 image at detail "high": 85 + 4 tiles * 170
IMAGE_TOKENS_LOW = 85
TOOL_CALL_OVERHEAD = 3  # [unverified] per tool call in an assistant message, beyond name + arguments
ESTIMATE_BYTES_PER_TOKEN = 3
LARGE = "large"
LARGE_BYTES_PER_TOKEN = 4
CEILING_SLACK = 64  # token_ceiling's margin for the reply primer and the tools' closing tokens

# tiktoken_ext/openai_public.py (tiktoken 0.x): expected hashes, regexes and special tokens.
_O200K_PAT = "|".join([  # noqa: FLY002 - as tiktoken writes it, one alternative a line
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
_CL100K_PAT = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
               r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
ENCODINGS = {
    "o200k_base": ("446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d", _O200K_PAT,
                   {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "cl100k_base": ("223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7", _CL100K_PAT,
                    {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                     "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}),
}
_FUNC_INIT = {"o200k_base": 7, "cl100k_base": 10}

_loaded: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


class EncodingCorrupt(Exception):
    """A shipped encoding file does not hash to tiktoken's expected value."""


def encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, loaded and verified on first use (~0.5 s: call it off the event loop,
    or warm it with `preload`)."""
    enc = _loaded.get(name)
    if enc is not None:
        return enc
    with _lock:
        if name not in _loaded:
            _loaded[name] = _load(name)
    return _loaded[name]


def is_loaded(name: str) -> bool:
    return name in _loaded


def preload(names: set[str]) -> threading.Thread:
    """Load encodings in a background thread (at gateway construction), so the first request
    doesn't pay for it."""
    thread = threading.Thread(target=lambda: [encoding(n) for n in sorted(names) if n in ENCODINGS],
                              name="seawall-encodings", daemon=True)
    thread.start()
    return thread


def _load(name: str) -> tiktoken.Encoding:
    expected, pat_str, special = ENCODINGS[name]
    packed = resources.files("seawall.catalog").joinpath(f"encodings/{name}.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != expected:
        raise EncodingCorrupt(f"encodings/{name}.tiktoken.gz does not match tiktoken's sha256 {expected}")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}
    enc = tiktoken.Encoding(name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special)
    # The Rust core holds its own copy of the ranks; tiktoken keeps the Python dict only to pickle
    # the Encoding, which Seawall never does. Dropped, it saves ~35 MB for o200k (measured).
    enc._mergeable_ranks = {}
    return enc


def count_text(text: str, tokenizer: str) -> int:
    if tokenizer in ENCODINGS:
        return len(encoding(tokenizer).encode_ordinary(text))
    per_token = LARGE_BYTES_PER_TOKEN if tokenizer == LARGE else ESTIMATE_BYTES_PER_TOKEN
    return -(-len(text.encode("utf-8", "surrogatepass")) // per_token)


def message_tokens(message: dict, tokenizer: str) -> int:
    """One chat message's tokens, its 3-token frame included."""
    total = TOKENS_PER_MESSAGE
    for key, value in message.items():
        if isinstance(value, str):
            total += count_text(value, tokenizer)
            if key == "name":
                total += TOKENS_PER_NAME
        elif key == "content" and isinstance(value, list):
            total += sum(_part_tokens(part, tokenizer) for part in value)
        elif key == "tool_calls" and isinstance(value, list):
            total += sum(_tool_call_tokens(call, tokenizer) for call in value)
        elif value is not None:  # function_call, audio, vendor fields: their JSON text
            total += count_text(orjson.dumps(value).decode(), tokenizer)
    return total


def _part_tokens(part: object, tokenizer: str) -> int:
    if not isinstance(part, dict):
        return 0
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return count_text(part["text"], tokenizer)
    if kind == "image_url":
        image = part.get("image_url")
        low = isinstance(image, dict) and image.get("detail") == "low"
        return IMAGE_TOKENS_LOW if low else IMAGE_TOKENS
    return count_text(orjson.dumps(part).decode(), tokenizer)


def _tool_call_tokens(call: object, tokenizer: str) -> int:
    if not isinstance(call, dict):
        return 0
    fn = call.get("function") or call.get("custom") or {}
    text = "".join(v for v in (fn.get("name"), fn.get("arguments"), fn.get("input")) if isinstance(v, str)) \
        if isinstance(fn, dict) else ""
    return TOOL_CALL_OVERHEAD + count_text(text, tokenizer)


def tools_tokens(tools: list, tokenizer: str) -> int:
    """The cookbook's num_tokens_for_tools (see the module docstring)."""
    functions = [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if not functions and not tools:
        return 0
    total = 0
    for fn in functions:
        total += _FUNC_INIT.get(tokenizer, 10)
        desc = str(fn.get("description") or "").removesuffix(".")
        total += count_text(f"{fn.get('name', '')}:{desc}", tokenizer)
        props = (fn.get("parameters") or {}).get("properties") if isinstance(fn.get("parameters"), dict) else None
        if isinstance(props, dict) and props:
            total += 3
            for key, prop in props.items():
                total += 3
                if not isinstance(prop, dict):
                    continue
                if isinstance(prop.get("enum"), list):
                    total -= 3
                    total += sum(3 + count_text(str(item), tokenizer) for item in prop["enum"])
                if prop.get("type") in ("object", "array"):
                    total += count_text(orjson.dumps(prop).decode(), tokenizer)
                    continue
                pdesc = str(prop.get("description") or "").removesuffix(".")
                total += count_text(f"{key}:{prop.get('type', '')}:{pdesc}", tokenizer)
    others = [t for t in tools if not (isinstance(t, dict) and isinstance(t.get("function"), dict))]
    total += sum(count_text(orjson.dumps(t).decode(), tokenizer) for t in others)  # custom tools: estimate
    return total + 12


def chat_tokens(body: dict, tokenizer: str) -> tuple[list[int], int]:
    """(tokens per message, fixed tokens: reply primer + tools) for a chat body."""
    per_message = [message_tokens(m, tokenizer) if isinstance(m, dict) else 0 for m in body.get("messages") or ()]
    fixed = REPLY_PRIMER
    tools = body.get("tools") or body.get("functions")
    if isinstance(tools, list) and tools:
        if body.get("functions") and not body.get("tools"):
            tools = [{"type": "function", "function": f} for f in tools]
        fixed += tools_tokens(tools, tokenizer)
    return per_message, fixed


def embeddings_tokens(body: dict, tokenizer: str) -> int:
    """The largest single input's tokens: an embeddings model's window applies to each input."""
    data = body.get("input")
    items = data if isinstance(data, list) else [data]
    if items and isinstance(items[0], int):  # one pre-tokenized input
        return len(items)
    most = 0
    for item in items:
        if isinstance(item, str):
            most = max(most, count_text(item, tokenizer))
        elif isinstance(item, list):
            most = max(most, len(item))
    return most


def token_ceiling(body: dict, body_bytes: int) -> int:
    """A bound no count can exceed, for free: every BPE token (and every estimated one) stands
    for at least one byte of text, and the JSON around each string (keys, quotes, braces) is
    longer than the few frame tokens each message, name, tool or call adds. Only images cost
    more tokens than their bytes. A request under the window by this bound needs no count."""
    images = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            images += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image_url")
    return body_bytes + images * IMAGE_TOKENS + CEILING_SLACK


def prompt_tokens(operation: str, body: dict, tokenizer: str) -> int:
    """A request's prompt tokens; what the rate limiter can use instead of bytes / 4."""
    if operation == "embeddings":
        return embeddings_tokens(body, tokenizer)
    per_message, fixed = chat_tokens(body, tokenizer)
    return sum(per_message) + fixed
