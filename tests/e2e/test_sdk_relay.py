"""Every provider route through the official SDKs, in both upstream modes, JSON and streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import anthropic
import openai
import pytest
import pytest_asyncio
from google import genai

from gateway.devtools.fake_provider import FakeProvider, start_fake_provider
from gateway.devtools.loopback import free_port
from tests.conftest import (
    NEW_API_KEY,
    UPSTREAM_KEYS,
    LiveGateway,
    gateway_settings,
    running_gateway,
)

CLIENT_KEY = "sk-client-own-key-123"


@dataclass
class Mode:
    name: str
    new_api: bool
    new_api_key: str

    def expected_credential(self, provider: str) -> str:
        if not self.new_api:
            return UPSTREAM_KEYS[provider]
        return self.new_api_key or CLIENT_KEY


MODES = [
    Mode("direct", False, ""),
    Mode("new-api-passthrough", True, ""),
    Mode("new-api-key", True, NEW_API_KEY),
]


@pytest.fixture(params=MODES, ids=lambda m: m.name)
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def fake_provider(mode: Mode) -> AsyncIterator[FakeProvider]:
    """The upstream plays new-api in the new-api modes (its model-list rule), else the providers."""
    provider = await start_fake_provider(new_api=mode.new_api)
    yield provider
    await provider.close()


@pytest_asyncio.fixture
async def live(mode: Mode, fake_provider: FakeProvider) -> AsyncIterator[tuple[LiveGateway, Mode]]:
    settings = gateway_settings(
        fake_provider.url, new_api=mode.new_api, new_api_key=mode.new_api_key
    )
    async with running_gateway(settings) as gateway:
        yield gateway, mode


def _credential_seen(fake: FakeProvider) -> str:
    headers = fake.requests[-1].headers
    if "x-api-key" in headers:
        return headers["x-api-key"]
    if "x-goog-api-key" in headers:
        return headers["x-goog-api-key"]
    return headers["authorization"].removeprefix("Bearer ")


async def test_openai_routes(live: tuple[LiveGateway, Mode], fake_provider: FakeProvider) -> None:
    gateway, mode = live
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0
    ) as client:
        messages = [{"role": "user", "content": "hi"}]
        chat = await client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
        assert chat.choices[0].message.content == "tok0 tok1 tok2 tok3 "
        assert chat.usage is not None and chat.usage.prompt_tokens == 13
        assert _credential_seen(fake_provider) == mode.expected_credential("openai")

        stream = await client.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True
        )  # type: ignore[arg-type]
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "tok0 tok1 tok2 tok3 "

        completion = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
        assert completion.choices[0].text
        embedding = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        assert len(embedding.data) == 2 and len(embedding.data[0].embedding) > 0

        response = await client.responses.create(model="gpt-5", input="hi")
        assert response.output_text == "tok0 tok1 tok2 tok3 "
        events = [
            e.type
            async for e in await client.responses.create(model="gpt-5", input="hi", stream=True)
        ]
        assert events[-1] == "response.completed"

        models = await client.models.list()
        assert [m.id async for m in models]


async def test_claude_routes(live: tuple[LiveGateway, Mode], fake_provider: FakeProvider) -> None:
    gateway, mode = live
    async with anthropic.AsyncAnthropic(
        base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0
    ) as client:
        message = await client.messages.create(
            model="claude-test-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
        assert (
            message.content[0].type == "text" and message.content[0].text == "tok0 tok1 tok2 tok3 "
        )
        assert message.usage.cache_read_input_tokens == 3
        assert _credential_seen(fake_provider) == mode.expected_credential("claude")

        async with client.messages.stream(
            model="claude-test-model", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == "tok0 tok1 tok2 tok3 " and final.usage.output_tokens == 4

        counted = await client.messages.count_tokens(
            model="claude-test-model", messages=[{"role": "user", "content": "hi"}]
        )
        assert counted.input_tokens == 10

        # new-api tells Claude's model list from OpenAI's by x-api-key with anthropic-version,
        # and this SDK sends its key as a Bearer: the gateway must move it.
        listed = [model async for model in client.models.list()]
        assert listed and all(model.type == "model" and model.display_name for model in listed)
        assert _credential_seen(fake_provider) == mode.expected_credential("claude")


async def test_claude_batches_lifecycle(
    live: tuple[LiveGateway, Mode], fake_provider: FakeProvider
) -> None:
    gateway, mode = live
    async with anthropic.AsyncAnthropic(
        base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0
    ) as client:
        params = {
            "model": "claude-test-model",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "x"}],
        }
        batch = await client.messages.batches.create(
            requests=[{"custom_id": "a", "params": params}, {"custom_id": "b", "params": params}]  # type: ignore[list-item]
        )
        fetched = await client.messages.batches.retrieve(batch.id)
        # The provider's absolute results_url is rewritten to the gateway, so the SDK stays on it.
        assert fetched.results_url is not None and fetched.results_url.startswith(gateway.url)
        listed = [b.id async for b in await client.messages.batches.list()]
        assert batch.id in listed
        results = [r.custom_id async for r in await client.messages.batches.results(batch.id)]
        assert sorted(results) == ["a", "b"]
        assert fake_provider.requests[-1].path.endswith("/results")
        assert _credential_seen(fake_provider) == mode.expected_credential("claude")
        await client.messages.batches.cancel(batch.id)
        deleted = await client.messages.batches.delete(batch.id)
        assert deleted.id == batch.id


# google-genai 3.x calls the API's v1 by default; older SDKs and tools call v1beta.
@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
async def test_gemini_routes(
    live: tuple[LiveGateway, Mode], fake_provider: FakeProvider, api_version: str
) -> None:
    gateway, mode = live
    client = genai.Client(
        api_key=CLIENT_KEY, http_options={"base_url": gateway.url, "api_version": api_version}
    )
    reply = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert reply.text == "tok0 tok1 tok2 tok3 "
    assert reply.usage_metadata is not None and reply.usage_metadata.thoughts_token_count == 2
    assert _credential_seen(fake_provider) == mode.expected_credential("gemini")

    chunks = [
        c.text
        async for c in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        )
    ]
    assert "".join(t or "" for t in chunks) == "tok0 tok1 tok2 tok3 "

    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="hi")
    assert counted.total_tokens == 13
    embedded = await client.aio.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"]
    )
    assert embedded.embeddings is not None and len(embedded.embeddings) == 2
    model = await client.aio.models.get(model="gemini-2.5-flash")
    assert model.name is not None and "gemini-2.5-flash" in model.name
    names = [m.name async for m in await client.aio.models.list()]
    assert names
    assert fake_provider.requests[-1].path == f"/{api_version}/models"


async def test_the_sdks_show_the_gateways_request_id_on_its_own_errors() -> None:
    """`e.request_id` is what a user quotes in a report: on an error the gateway made itself
    (here 502, nothing listens upstream) it is the id of the gateway's event and log lines."""
    settings = gateway_settings(f"http://127.0.0.1:{free_port()}")
    messages = [{"role": "user", "content": "hi"}]
    async with (
        running_gateway(settings) as gw,
        openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as oai,
        anthropic.AsyncAnthropic(base_url=gw.url, api_key="k", max_retries=0) as claude,
    ):
        with pytest.raises(openai.APIStatusError) as from_openai:
            await oai.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
        with pytest.raises(anthropic.APIStatusError) as from_anthropic:
            await claude.messages.create(model="c", max_tokens=8, messages=messages)  # type: ignore[arg-type]
        events = await gw.events.wait_for(2)
    assert from_openai.value.status_code == 502 and from_anthropic.value.status_code == 502
    assert from_openai.value.request_id == events[0].id
    assert from_anthropic.value.request_id == events[1].id
