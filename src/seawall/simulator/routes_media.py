"""Legacy completions, images, audio and moderations over HTTP: read the request (JSON or a
form), run the shared front half (fault, key, injected status), plan, charge, reply.

Forms are read before the front half: the fault rules and rate limits need the model, which a
form names in a field. A speech reply is sent chunk by chunk as it is produced (the stream
faults apply: ``cut_after=N`` drops the connection after N chunks).
"""

from __future__ import annotations

import dataclasses
import random
import time

import orjson

from seawall.simulator import wire
from seawall.simulator.audio import (
    MAX_UPLOAD_BYTES,
    SPEECH_FORMATS,
    plan_speech,
    plan_transcription,
    render_transcription,
    speech_chunks,
)
from seawall.simulator.completions import plan_completion, render_completion, render_completion_events
from seawall.simulator.dialects import openai as oai
from seawall.simulator.exchange import Exchange
from seawall.simulator.faults import DEFAULT_AFTER
from seawall.simulator.forms import read_form
from seawall.simulator.host import UNPARSABLE, Host, parse_json
from seawall.simulator.images import plan_edit, plan_generation, plan_variation, render_images
from seawall.simulator.moderations import plan_moderation, render_moderation

IMAGE_UPLOAD_BYTES = 64 * 1024 * 1024  # above every image model's own per-file limit
MAX_PICTURES = 32  # generated pictures kept for their URLs
_ids = random.Random()


async def completions(host: Host, exchange: Exchange) -> None:
    body, model_name = parse_json(await wire.read_body(exchange.receive))
    if not await host.admit(exchange, model_name):
        return
    plan = oai.unparsable_json() if body is UNPARSABLE else plan_completion(body, host.state.catalog,
                                                                             exchange.fault.tokens)
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
        return
    if not await host.charge(exchange, plan.model, plan.cost):
        return
    completion_id = "cmpl-" + "".join(_ids.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                                                    k=29))
    if plan.stream:
        await exchange.stream(render_completion_events(plan, completion_id, int(time.time())),
                              host.stream_interval(exchange))
    else:
        await exchange.reply(render_completion(plan, completion_id, int(time.time())))


async def moderations(host: Host, exchange: Exchange) -> None:
    body, model_name = parse_json(await wire.read_body(exchange.receive))
    if not await host.admit(exchange, model_name or "omni-moderation-latest"):
        return
    plan = oai.unparsable_json() if body is UNPARSABLE else plan_moderation(body, host.state.catalog)
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
    elif await host.charge(exchange, plan.model, plan.tokens):
        await exchange.reply(render_moderation(plan))


def _url_of(host: Host, exchange: Exchange):
    """Keeps a generated picture and gives the URL the simulator serves it at."""
    def keep(picture: bytes) -> str:
        pictures = host.state.pictures
        name = f"img-{_ids.getrandbits(96):024x}.png"
        pictures[name] = picture
        while len(pictures) > MAX_PICTURES:
            pictures.popitem(last=False)
        return f"http://{exchange.host}/_sim/images/{name}"
    return keep


async def _reply_images(host: Host, exchange: Exchange, plan) -> None:
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
    elif await host.charge(exchange, plan.model, plan.cost):
        await exchange.reply(orjson.dumps(render_images(plan, int(time.time()), _url_of(host, exchange))))


async def image_generations(host: Host, exchange: Exchange) -> None:
    body, model_name = parse_json(await wire.read_body(exchange.receive))
    if await host.admit(exchange, model_name or "dall-e-2"):
        await _reply_images(host, exchange, oai.unparsable_json() if body is UNPARSABLE
                            else plan_generation(body, host.state.catalog))


async def _form(host: Host, exchange: Exchange, limit: int, default_model: str | None, keep_files: bool = False):
    """The form, after the front half (None: answered)."""
    form = await read_form(exchange.receive, exchange.content_type, limit, keep_files)
    model = form.text("model") if not isinstance(form, oai.ApiError) else None
    if not await host.admit(exchange, model or default_model):
        return None
    if isinstance(form, oai.ApiError):
        await exchange.reply_error(form)
        return None
    return form


async def image_edits(host: Host, exchange: Exchange) -> None:
    form = await _form(host, exchange, IMAGE_UPLOAD_BYTES, "dall-e-2")
    if form is not None:
        await _reply_images(host, exchange, plan_edit(form, host.state.catalog))


async def image_variations(host: Host, exchange: Exchange) -> None:
    form = await _form(host, exchange, IMAGE_UPLOAD_BYTES, "dall-e-2")
    if form is not None:
        await _reply_images(host, exchange, plan_variation(form, host.state.catalog))


async def speech(host: Host, exchange: Exchange) -> None:
    body, model_name = parse_json(await wire.read_body(exchange.receive))
    if not await host.admit(exchange, model_name):
        return
    plan = oai.unparsable_json() if body is UNPARSABLE else plan_speech(body, host.state.catalog)
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
    elif await host.charge(exchange, plan.model, plan.characters):
        fault = exchange.fault
        if fault.stream_error is not None:  # audio bytes have no error event: the connection drops instead
            after = fault.after if fault.after is not None else DEFAULT_AFTER
            exchange.fault = dataclasses.replace(fault, stream_error=None, cut_after=after)
        await exchange.stream(speech_chunks(plan), host.stream_interval(exchange), SPEECH_FORMATS[plan.format])


async def _transcribe(host: Host, exchange: Exchange, task: str) -> None:
    form = await _form(host, exchange, MAX_UPLOAD_BYTES, None)
    if form is None:
        return
    plan = plan_transcription(form, host.state.catalog, task)
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
    elif await host.charge(exchange, plan.model, int(plan.seconds) + 1):
        body, content_type = render_transcription(plan)
        await exchange.reply(body, content_type=content_type)


async def transcriptions(host: Host, exchange: Exchange) -> None:
    await _transcribe(host, exchange, "transcribe")


async def translations(host: Host, exchange: Exchange) -> None:
    await _transcribe(host, exchange, "translate")
