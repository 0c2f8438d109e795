"""The Gemini API for clients: `POST /v1beta/models/{model}:generateContent`,
`:streamGenerateContent?alt=sse`, `:countTokens`, `:embedContent` and `:batchEmbedContents`
(also under `/v1/models/…`, which google-genai 3.x calls), so the official `google-genai` SDK
works against Seawall with a Seawall key in `x-goog-api-key` (or `?key=`), whichever upstream
serves the model.

To a Gemini deployment the request passes through as the client sent it (thinkingConfig,
cachedContent, Google's own tools, fields newer than this code): `parse` checks only what the
gateway reads (the model in the path, contents / content / requests). To another vendor it is
translated to the canonical form:

    Gemini request                               canonical (OpenAI chat)
    systemInstruction.parts[].text           ->  a system message
    contents[] role user / model             ->  user / assistant messages
    parts: text, inlineData (image/*)        ->  text and image_url parts (data: URLs)
    inlineData application/pdf               ->  file parts (data: URLs)
    functionCall / functionResponse parts    ->  tool_calls / tool messages (ids made up: Gemini
                                                 matches a response to its call by name)
    thought parts, thoughtSignature          ->  left out (signatures are valid at Google only)
    tools[].functionDeclarations, toolConfig ->  tools, tool_choice
    generationConfig                         ->  temperature, top_p, top_k, max_completion_tokens, stop, n,
                                                 response_format (responseMimeType / responseSchema)
    generationConfig.thinkingConfig          ->  reasoning_effort (by thinkingBudget)
    embedContent / batchEmbedContents        ->  embeddings (input: the texts)

`cachedContent` (a cache held at Google) has no counterpart: a 400 naming it unless the model's
`translation: lossy` lets it drop (the full prompt must then be in the request). safetySettings
are Gemini's own filters: carried as `safety_settings`, which a Gemini upstream applies and every
other refuses by name, never dropped. Anything else without a canonical form is a 400 naming
the field. Streams carry no end event in this dialect: a stream that breaks ends with an
`{"error": …}` event, which google-genai raises on. Keep-alives are blank lines: google-genai
fails on SSE comments but skips empty lines.
"""

from __future__ import annotations

import orjson

from seawall.decide.keys import KeyProblem
from seawall.dialects.base import key_from
from seawall.dialects.gemini_reply import SSE_END, GeminiStream, to_embed_response, to_response
from seawall.errors import SeawallError, error
from seawall.pipeline.ingress import json_kind, parse_json_object
from seawall.providers.base import ApiRequest

# google.rpc status names by HTTP status (the `status` google-genai shows).
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ABORTED", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
                499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED"}
_CONFIG = {"temperature": "temperature", "topP": "top_p", "topK": "top_k", "maxOutputTokens": "max_completion_tokens",
           "stopSequences": "stop", "candidateCount": "n", "presencePenalty": "presence_penalty",
           "frequencyPenalty": "frequency_penalty", "seed": "seed"}
_KNOWN = frozenset({"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings",
                    "model", "cachedContent"})
# The REST methods a client calls, and the operation each is.
METHODS = {"generateContent": "chat", "streamGenerateContent": "chat", "countTokens": "count_tokens",
           "embedContent": "embed", "batchEmbedContents": "batch_embed"}
ENDPOINT = "POST /v1beta/models/{model}:generateContent"
# thinkingBudget -> reasoning_effort, split as dialects/anthropic.py splits budget_tokens.
_EFFORTS = ((2896, "low"), (14189, "medium"))
_SNAKE = {"system_instruction": "systemInstruction", "generation_config": "generationConfig",
          "tool_config": "toolConfig", "safety_settings": "safetySettings"}  # the REST API takes both spellings
_SNAKE_CONFIG = {"include_thoughts": "includeThoughts", "thinking_budget": "thinkingBudget",
                 "thinking_level": "thinkingLevel"}


class GeminiDialect:
    name = "gemini"
    keepalive = b"\r\n"
    key_how = "'x-goog-api-key: sk-sw-...' (or ?key=sk-sw-...)"

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]:
        return key_from(headers, "x-goog-api-key")  # the app moves a ?key= query parameter here

    def parse(self, operation: str, body: bytes, headers: dict[str, str], path_model: str | None) -> ApiRequest:
        model, _, method = (path_model or "").rpartition(":")
        operation = METHODS.get(method, operation)
        g = parse_json_object(body, headers)
        if not model:
            raise error("missing_field", param="model", endpoint=ENDPOINT)
        if operation == "chat":
            contents = g.get("contents")
            if contents is None:
                raise error("missing_field", param="contents", endpoint=ENDPOINT)
            if not isinstance(contents, list) or not contents:
                raise error("invalid_field", param="contents", expected="a non-empty array of Content objects",
                            got=json_kind(contents))
        elif operation == "batch_embed" and not isinstance(g.get("requests"), list):
            raise error("invalid_field", param="requests", expected="an array of EmbedContentRequest objects",
                        got=json_kind(g.get("requests")))
        stream = method == "streamGenerateContent"
        return ApiRequest(operation, model, g, stream, "gemini", stream, shape="gemini", raw=body)

    def translate(self, req: ApiRequest, lossy: bool = False) -> ApiRequest:
        if req.shape != "gemini":
            return req
        if req.operation in ("embed", "batch_embed"):
            return to_embeddings_request(req)
        if req.operation != "chat":
            raise error("operation_not_supported", param="model", model=req.model, operation=f":{req.operation}")
        return to_canonical(req.body, req.model, req.stream, lossy)

    def reply(self, req: ApiRequest, canonical: bytes, request_id: str) -> bytes:
        if req.operation in ("embed", "batch_embed"):
            return orjson.dumps(to_embed_response(orjson.loads(canonical), req.operation))
        return orjson.dumps(to_response(orjson.loads(canonical)))

    def stream(self, request_id: str, model: str) -> GeminiStream:
        return GeminiStream(model)

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]:
        return err.status, orjson.dumps(error_payload(err, request_id))

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        return b"data: " + orjson.dumps(error_payload(err, request_id)) + SSE_END


def error_payload(err: SeawallError, request_id: str) -> dict:
    """google.rpc.Status, with Seawall's facts in an ErrorInfo and the wait in a RetryInfo."""
    details: list[dict] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": (err.provider_code or err.code).upper(), "domain": "seawall",
                            "metadata": {"request_id": request_id, "category": err.category, "hint": err.hint,
                                         **({"param": err.param} if err.param else {})}}]
    wait = err.headers.get("retry-after")
    if wait:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait}s"})
    status = STATUS_NAMES.get(err.status, "INTERNAL" if err.status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": err.status, "message": err.sdk_message, "status": status, "details": details}}


# -- request ---------------------------------------------------------------------------------------

def to_canonical(g: dict, model: str, stream: bool, lossy: bool = False) -> ApiRequest:
    """A GenerateContentRequest (checked by `parse`) as an OpenAI chat request, or the 400 naming
    the first field that has no counterpart."""
    g = {_SNAKE.get(k, k): v for k, v in g.items()}
    for name in g:
        if name not in _KNOWN:
            raise _unsupported(name, "Seawall translates Gemini requests for it to a common form that has no such "
                                     "field")
    if g.get("cachedContent") is not None and not lossy:
        raise _unsupported("cachedContent", "a cache held at Google has no counterpart there; the model's gateway "
                                            "config may set translation: lossy to send the request without it")
    contents = g["contents"]
    messages: list[dict] = []
    if g.get("systemInstruction") is not None:
        messages.append({"role": "system", "content": _system(g["systemInstruction"])})
    calls: dict[str, list[str]] = {}  # function name -> ids of calls not yet answered
    for i, content in enumerate(contents):
        messages.extend(_content(content, f"contents[{i}]", calls))
    chat: dict = {"model": model, "messages": messages}
    if g.get("safetySettings") is not None:
        chat["safety_settings"] = g["safetySettings"]
    chat.update(_generation_config(g.get("generationConfig")))
    if g.get("tools"):
        chat["tools"] = _tools(g["tools"])
    if g.get("toolConfig") is not None:
        chat.update(_tool_config(g["toolConfig"]))
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # the last chunk carries usageMetadata
    return ApiRequest("chat", model, chat, stream, "gemini", stream)


def _name(call: dict, where: str) -> None:
    """A function call or response names its function (and its id, when given, is a string)."""
    if not isinstance(call.get("name"), str) or not call["name"]:
        raise error("invalid_field", param=f"{where}.name", expected="a function name", got=json_kind(call.get("name")))
    if call.get("id") is not None and not isinstance(call["id"], str):
        raise error("invalid_field", param=f"{where}.id", expected="a string", got=json_kind(call["id"]))


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise error("invalid_field", param=where, expected="an object", got=json_kind(value))
    return value


def _unsupported(param: str, detail: str) -> SeawallError:
    return error("unsupported_parameter", param=param, deployment="a deployment of another vendor", detail=detail)


def _system(instruction: object) -> str:
    if isinstance(instruction, str):
        return instruction
    parts = instruction.get("parts") if isinstance(instruction, dict) else None
    if not isinstance(parts, list):
        raise error("invalid_field", param="systemInstruction", expected="a Content object with 'parts'",
                    got=json_kind(instruction))
    return "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


def _content(content: object, where: str, calls: dict[str, list[str]]) -> list[dict]:
    if not isinstance(content, dict):
        raise error("invalid_field", param=where, expected="a Content object", got=json_kind(content))
    role = content.get("role", "user")
    if role not in ("user", "model", "function"):
        raise error("invalid_field", param=f"{where}.role", expected="'user' or 'model'", got=repr(role))
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise error("invalid_field", param=f"{where}.parts", expected="an array of Part objects", got=json_kind(parts))
    texts: list[dict] = []
    out: list[dict] = []
    tool_calls: list[dict] = []
    for j, part in enumerate(parts):
        here = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise error("invalid_field", param=here, expected="a Part object", got=json_kind(part))
        if "text" in part:
            if not part.get("thought"):  # a model's own thought summaries are not sent back
                texts.append({"type": "text", "text": str(part["text"])})
        elif "inlineData" in part or "fileData" in part:
            texts.append(_media(part, here))
        elif "functionCall" in part:
            fc = _object(part["functionCall"], f"{here}.functionCall")
            _name(fc, f"{here}.functionCall")
            _object(fc.get("args", {}), f"{here}.functionCall.args")
            call_id = fc.get("id") or f"call_{len(calls.get(fc.get('name'), ())) }_{fc.get('name')}"
            calls.setdefault(fc.get("name"), []).append(call_id)
            tool_calls.append({"id": call_id, "type": "function",
                               "function": {"name": fc.get("name"), "arguments": orjson.dumps(fc.get("args") or {}).decode()}})
        elif "functionResponse" in part:
            fr = _object(part["functionResponse"], f"{here}.functionResponse")
            _name(fr, f"{here}.functionResponse")
            _object(fr.get("response", {}), f"{here}.functionResponse.response")
            pending = calls.get(fr.get("name")) or []
            call_id = fr.get("id") or (pending.pop(0) if pending else f"call_{fr.get('name')}")
            out.append({"role": "tool", "tool_call_id": call_id,
                        "content": orjson.dumps(fr.get("response") or {}).decode()})
        else:
            kind = next(iter(part), "empty")
            raise _unsupported(f"{here}.{kind}", f"a {kind!r} part has no counterpart in the common form")
    if role == "model":
        message: dict = {"role": "assistant", "content": "".join(t.get("text", "") for t in texts) or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return [message]
    if texts:
        only_text = len(texts) == 1 and texts[0]["type"] == "text"
        out.append({"role": "user", "content": texts[0]["text"] if only_text else texts})
    return out


def _media(part: dict, where: str) -> dict:
    if "inlineData" in part:
        data = _object(part["inlineData"], f"{where}.inlineData")
        mime, url = data.get("mimeType", ""), f"data:{data.get('mimeType')};base64,{data.get('data', '')}"
        field = "inlineData"
    else:
        data = _object(part["fileData"], f"{where}.fileData")
        mime, url, field = data.get("mimeType", ""), data.get("fileUri"), "fileData"
    if mime == "application/pdf" and field == "inlineData":  # a document: a chat file part
        return {"type": "file", "file": {"filename": "document.pdf", "file_data": url}}
    if not str(mime).startswith("image/"):
        raise _unsupported(f"{where}.{field}.mimeType", f"only images and inline PDFs have a counterpart, not {mime!r}")
    return {"type": "image_url", "image_url": {"url": url}}


def _generation_config(config: object) -> dict:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise error("invalid_field", param="generationConfig", expected="an object", got=json_kind(config))
    out: dict = {}
    for name, value in config.items():
        if value is None:
            continue
        if name in _CONFIG:
            out[_CONFIG[name]] = value
        elif name == "responseMimeType":
            if value == "application/json":
                out.setdefault("response_format", {"type": "json_object"})
            elif value != "text/plain":
                raise _unsupported("generationConfig.responseMimeType", f"{value!r} has no counterpart")
        elif name in ("responseSchema", "responseJsonSchema"):
            out["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
        elif name == "thinkingConfig":
            out.update(_thinking(value))
        else:
            raise _unsupported(f"generationConfig.{name}", "it has no counterpart in the common form")
    return out


def _thinking(config: object) -> dict:
    """thinkingConfig -> reasoning_effort: a budget of 0 turns thinking off ("minimal"), -1
    (dynamic) leaves the target's default; includeThoughts (thought summaries in the reply) has no
    counterpart in a chat completion and is refused by name."""
    config = _object(config, "generationConfig.thinkingConfig")
    config = {_SNAKE_CONFIG.get(k, k): v for k, v in config.items()}  # google-genai sends snake_case here
    if config.get("includeThoughts"):
        raise _unsupported("generationConfig.thinkingConfig.includeThoughts",
                           "a chat completion returns no thought summaries")
    budget = config.get("thinkingBudget")
    level = config.get("thinkingLevel")
    if isinstance(level, str) and level.lower() in ("low", "medium", "high"):
        return {"reasoning_effort": level.lower()}
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        return {}
    if budget == 0:
        return {"reasoning_effort": "minimal"}
    return {"reasoning_effort": next((effort for limit, effort in _EFFORTS if budget < limit), "high")}


def to_embeddings_request(req: ApiRequest) -> ApiRequest:
    """embedContent / batchEmbedContents -> an OpenAI embeddings request, one input per text."""
    requests = [req.body] if req.operation == "embed" else req.body["requests"]
    texts, dimensions = [], set()
    for i, r in enumerate(requests):
        where = "content" if req.operation == "embed" else f"requests[{i}].content"
        content = _object(_object(r, where.rpartition(".")[0] or "body").get("content"), where)
        parts = content.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) and isinstance(p.get("text"), str)
                                                  for p in parts):
            raise _unsupported(f"{where}.parts", "only text parts can be embedded there")
        texts.append("".join(p["text"] for p in parts))
        if r.get("outputDimensionality"):
            dimensions.add(r["outputDimensionality"])
    if len(dimensions) > 1:
        raise _unsupported("requests[].outputDimensionality", "one embeddings call takes one dimensionality")
    body: dict = {"model": req.model, "input": texts}
    if dimensions:
        body["dimensions"] = dimensions.pop()
    return ApiRequest("embeddings", req.model, body, dialect="gemini")



def _tools(tools: object) -> list[dict]:
    if not isinstance(tools, list):
        raise error("invalid_field", param="tools", expected="an array of Tool objects", got=json_kind(tools))
    out = []
    for i, tool in enumerate(tools):
        for name, declarations in _object(tool, f"tools[{i}]").items():
            if name != "functionDeclarations":  # googleSearch, codeExecution, …: Google's own tools
                raise _unsupported(f"tools[{i}].{name}", "only functionDeclarations run on other upstreams")
            if not isinstance(declarations, list):
                raise error("invalid_field", param=f"tools[{i}].functionDeclarations", expected="an array",
                            got=json_kind(declarations))
            for j, d in enumerate(declarations):
                d = _object(d, f"tools[{i}].functionDeclarations[{j}]")
                fn = {"name": d.get("name"), "parameters": d.get("parameters") or d.get("parametersJsonSchema")
                      or {"type": "object", "properties": {}}}
                if d.get("description"):
                    fn["description"] = d["description"]
                out.append({"type": "function", "function": fn})
    return out


def _tool_config(config: object) -> dict:
    fcc = _object(config, "toolConfig").get("functionCallingConfig")
    if fcc is None:
        return {}
    fcc = _object(fcc, "toolConfig.functionCallingConfig")
    mode = fcc.get("mode", "AUTO")
    allowed = fcc.get("allowedFunctionNames") or []
    if not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed):
        raise error("invalid_field", param="toolConfig.functionCallingConfig.allowedFunctionNames",
                    expected="an array of function names", got=json_kind(allowed))
    if not isinstance(mode, str):
        raise error("invalid_field", param="toolConfig.functionCallingConfig.mode", expected="AUTO, ANY or NONE",
                    got=json_kind(mode))
    if mode == "ANY" and len(allowed) == 1:
        return {"tool_choice": {"type": "function", "function": {"name": allowed[0]}}}
    choice = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}.get(mode)
    if choice is None:
        raise error("invalid_field", param="toolConfig.functionCallingConfig.mode",
                    expected="AUTO, ANY or NONE", got=repr(mode))
    return {"tool_choice": choice}
