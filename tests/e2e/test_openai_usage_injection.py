"""OpenAI streams: the gateway asks for usage on the client's behalf and hides the extra chunk,
as the official SDK sees it."""

from __future__ import annotations

import openai

from gateway.devtools.fake_provider import FakeProvider
from tests.conftest import LiveGateway, gateway_settings, running_gateway

MESSAGES = [{"role": "user", "content": "hi"}]


async def test_client_that_did_not_ask_sees_no_usage_but_usage_is_recorded(
    gateway: LiveGateway, fake_provider: FakeProvider
) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    chunks = [chunk async for chunk in stream]
    await client.close()
    assert all(chunk.choices for chunk in chunks)  # no usage-only chunk with "choices": []
    assert all(chunk.usage is None for chunk in chunks)
    assert "usage" not in chunks[0].model_dump(exclude_unset=True)  # not even "usage": null
    assert fake_provider.requests[-1].body.count(b'"include_usage":true') == 1
    event = (await gateway.events.wait_for(1))[-1]
    assert (event.usage.input_tokens, event.usage.cache_read_tokens, event.usage.output_tokens) == (
        10,
        3,
        4,
    )
    assert not event.usage_estimated


async def test_client_that_asked_gets_the_usage_chunk(gateway: LiveGateway) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0)
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    await client.close()
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 13


async def test_switched_off_the_body_is_forwarded_untouched(fake_provider: FakeProvider) -> None:
    settings = gateway_settings(fake_provider.url, features={"openai_include_usage": False})
    async with running_gateway(settings) as gw:
        client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
        )
        _ = [chunk async for chunk in stream]
        await client.close()
        assert b"include_usage" not in fake_provider.requests[-1].body
        event = (await gw.events.wait_for(1))[-1]
        # No usage on the wire: the output is estimated from the streamed text, and marked so.
        assert event.usage_estimated and event.usage.output_tokens > 0
