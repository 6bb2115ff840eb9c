"""OpenAI's Agents SDK (`openai-agents`), which talks only the Responses API: a plain run, a run with a typed
output (`output_type`, sent as `text.format` json_schema), a streamed run, and a forced function tool whose
result ends the run. Its traffic is validated against OpenAI's schemas like every other client's (conftest).
The default model's template has no tool-call format, so `tool_choice` "auto" (the SDK's default once tools are
given) is a documented 400 here: the tool run names its function."""

from __future__ import annotations

import asyncio

import pydantic
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

from conftest import MODEL

set_tracing_disabled(True)
HELPFUL = "You are a helpful assistant."


class City(pydantic.BaseModel):
    name: str
    country: str


def _model(make_async_client, base_url) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(model=MODEL, openai_client=make_async_client(base_url))


def _settings(**kw) -> ModelSettings:
    return ModelSettings(temperature=0, max_tokens=300, **kw)


def test_plain_typed_and_streamed_runs(make_async_client, base_url, client):
    model = _model(make_async_client, base_url)

    async def run():
        plain = await Runner.run(Agent(name="a", instructions=HELPFUL, model=model, model_settings=_settings()),
                                 "What is the capital of France?")
        typed = await Runner.run(Agent(name="b", instructions=HELPFUL, model=model, output_type=City, model_settings=_settings()),
                                 "Describe Paris.")
        streamed = Runner.run_streamed(Agent(name="c", instructions=HELPFUL, model=model, model_settings=_settings()),
                                       "What is the capital of France?")
        kinds = [event.type async for event in streamed.stream_events()]
        return plain.final_output, typed.final_output, streamed.final_output, kinds

    plain, typed, streamed, kinds = asyncio.run(run())
    # The same request through the plain client: the same greedy answer.
    direct = client.responses.create(model=MODEL, instructions=HELPFUL, input=[{"role": "user", "content": "What is the capital of France?"}],
                                     temperature=0, max_output_tokens=300)
    assert plain == direct.output_text and "Paris" in plain
    assert isinstance(typed, City)
    assert streamed == plain
    assert "raw_response_event" in kinds


def test_forced_function_tool_ends_the_run(make_async_client, base_url):
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        seen.append(city)
        return f"22 C and sunny in {city}"

    agent = Agent(name="weather", instructions=HELPFUL, model=_model(make_async_client, base_url), tools=[get_weather],
                  model_settings=_settings(tool_choice="get_weather"), tool_use_behavior="stop_on_first_tool")
    result = asyncio.run(Runner.run(agent, "What is the weather in Paris?"))
    assert len(seen) == 1 and seen[0]
    assert result.final_output == f"22 C and sunny in {seen[0]}"
