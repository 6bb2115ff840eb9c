"""vLLM's sampling extensions, sent as the `openai` client sends them (`extra_body`), on the default model:
stop_token_ids, min_tokens, include_stop_str_in_output, allowed_token_ids, bad_words, truncate_prompt_tokens,
guided_choice, guided_regex, guided_grammar, structured_outputs and llama.cpp's grammar.
Each is checked against the same request without it, greedy, so the difference is the extension's doing."""

from __future__ import annotations

import re

import pytest

from conftest import MODEL, QUESTION

BASE = dict(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24)


def _tokens(http, text: str) -> list[int]:
    resp = http.post("/tokenize", {"model": MODEL, "prompt": text})
    assert resp.status == 200, resp
    return resp.json()["tokens"]


@pytest.fixture(scope="module")
def plain(client):
    return client.chat.completions.create(**BASE, logprobs=True).choices[0]


def test_a_stop_token_id_ends_the_answer_counted_and_its_text_kept_if_asked(client, http, plain):
    # The third token of the greedy answer as a stop token: the answer is its first three tokens, the third's text
    # shown only with include_stop_str_in_output (as vLLM does).
    pieces = [e.token for e in plain.logprobs.content]
    ids = _tokens(http, "".join(pieces[:3]))
    assert len(ids) == 3   # the text round-trips to the same three tokens
    third = client.chat.completions.create(**BASE, logprobs=True, extra_body={"stop_token_ids": [ids[2]]})
    choice = third.choices[0]
    assert choice.finish_reason == "stop" and third.usage.completion_tokens == 3
    assert [e.token for e in choice.logprobs.content] == pieces[:3]
    assert choice.message.content == "".join(pieces[:2])
    kept = client.chat.completions.create(**BASE, extra_body={"stop_token_ids": [ids[2]], "include_stop_str_in_output": True})
    assert kept.choices[0].message.content == "".join(pieces[:3])


def test_min_tokens_outlasts_the_end_token(client, plain):
    assert plain.finish_reason == "stop"   # the greedy answer ends on its own, before 24 tokens
    n = len(plain.logprobs.content)
    longer = client.chat.completions.create(**{**BASE, "max_tokens": n + 6}, extra_body={"min_tokens": n + 3}).choices[0]
    assert longer.message.content.startswith(plain.message.content)
    assert len(longer.message.content) > len(plain.message.content)


def test_stop_strings_can_be_kept(client, plain):
    word = plain.message.content.split()[2]
    cut = client.chat.completions.create(**BASE, stop=[word]).choices[0].message.content
    kept = client.chat.completions.create(**BASE, stop=[word], extra_body={"include_stop_str_in_output": True}).choices[0].message.content
    assert kept == cut + word and plain.message.content.startswith(kept)


def test_allowed_tokens_and_bad_words(client, http, plain):
    only = _tokens(http, " yes no")
    answer = client.chat.completions.create(**{**BASE, "max_tokens": 6}, logprobs=True, extra_body={"allowed_token_ids": only}).choices[0]
    assert answer.logprobs.content and all(e.token in (" yes", " no") for e in answer.logprobs.content), answer
    first = plain.message.content.split()[0]
    barred = client.chat.completions.create(**BASE, extra_body={"bad_words": [first]}).choices[0].message.content
    assert first not in barred.split()[:1] and barred != plain.message.content


def test_truncate_prompt_tokens_keeps_the_end(client):
    long_prompt = "Ignore this. " * 40 + "The capital of France is"
    cut = client.completions.create(model=MODEL, prompt=long_prompt, max_tokens=1, temperature=0, extra_body={"truncate_prompt_tokens": 8})
    assert cut.usage.prompt_tokens == 8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_guided_choice_answers_with_one_of_the_choices(client, seed):
    choices = ["positive", "negative", "neutral (mixed)"]
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Classify the sentiment: 'I loved it.'"}], temperature=1.0, seed=seed,
        n=2, max_tokens=20, extra_body={"guided_choice": choices})
    for choice in reply.choices:
        assert choice.message.content in choices and choice.finish_reason == "stop", choice


def test_guided_regex_and_structured_outputs(client):
    date = client.chat.completions.create(**{**BASE, "max_tokens": 20}, extra_body={"guided_regex": r"\d{4}-\d{2}-\d{2}"}).choices[0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date.message.content) and date.finish_reason == "stop", date
    # The newer form, streamed: the deltas join into a choice.
    stream = client.chat.completions.create(**BASE, stream=True, extra_body={"structured_outputs": {"choice": ["Paris", "Lyon"]}})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text in ("Paris", "Lyon")
    numbers = client.completions.create(model=MODEL, prompt="Three numbers:", max_tokens=30, temperature=0,
                                        extra_body={"structured_outputs": {"regex": r"(\d{1,3}, ){2}\d{1,3}"}})
    assert re.fullmatch(r"(\d{1,3}, ){2}\d{1,3}", numbers.choices[0].text), numbers


ARITHMETIC = """
root ::= expr
expr ::= term ([-+*] term)*
term ::= [0-9]{1,3} | "(" expr ")"
"""


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_grammars_constrain_the_answer(client, http):
    # vLLM's guided_grammar (xgrammar's EBNF): a recursive grammar no regular expression can write (balanced brackets).
    ask = [{"role": "user", "content": "Write an arithmetic expression with brackets."}]
    reply = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=40, temperature=0,
                                           extra_body={"guided_grammar": ARITHMETIC}).choices[0]
    text = reply.message.content
    # Complete when the model stopped; cut by max_tokens, still a prefix the grammar allows.
    assert re.fullmatch(r"[0-9()+*-]+", text) and (_balanced(text) or reply.finish_reason == "length"), reply
    assert text.count("(") >= text.count(")"), reply
    # Sampled, streamed, through structured_outputs: still only what the grammar allows.
    stream = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=40, temperature=1.0, seed=7, stream=True,
                                            extra_body={"structured_outputs": {"grammar": ARITHMETIC}})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert re.fullmatch(r"[0-9()+*-]+", text) and text.count("(") >= text.count(")"), text
    # llama.cpp's grammar field (GBNF) on the completions API: a greeting from the grammar's words, and it ends there.
    gbnf = 'root ::= greeting " " name "."\ngreeting ::= "Hello" | "Hi"\nname ::= [A-Z] [a-z]{1,10}\n'
    done = client.completions.create(model=MODEL, prompt="A polite greeting:", max_tokens=30, temperature=0, extra_body={"grammar": gbnf})
    choice = done.choices[0]
    assert re.fullmatch(r"(Hello|Hi) [A-Z][a-z]{1,10}\.", choice.text) and choice.finish_reason == "stop", choice
    # A grammar the server cannot follow is a 400 that says where.
    bad = http.post("/v1/chat/completions", {"model": MODEL, "messages": ask, "guided_grammar": "root ::= expr\n"})
    assert bad.status == 400 and bad.json()["error"]["param"] == "guided_grammar"
    assert "rule 'expr' is not defined (line 1, column 10)" in bad.json()["error"]["message"]


def test_stop_strings_of_several_lengths_with_constraints_keep_the_server_up(client, http):
    # Stop strings of different lengths with a response format, guided decoding or min_tokens once crashed the
    # server (a matcher range past its end); stop strings do not cut a value.
    reply = client.chat.completions.create(**{**BASE, "max_tokens": 20}, response_format={"type": "json_object"}, stop=["\n", "END"])
    assert reply.choices[0].finish_reason in ("stop", "length")
    client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=5, temperature=0, stop=[",", "xyz"],
                              extra_body={"min_tokens": 5})
    guided = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8, temperature=0, stop=["a", "xyz"],
                                       extra_body={"guided_regex": "[a-z ]+"})
    assert re.fullmatch("[a-z ]+", guided.choices[0].text), guided
    assert http.get("/health").status == 200


def test_continue_final_message_goes_on_from_the_last_message(client, http):
    # vLLM's continue_final_message (with add_generation_prompt false): the answer continues the assistant's text.
    messages = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "The capital of France is"}]
    reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0,
                                           extra_body={"continue_final_message": True, "add_generation_prompt": False})
    text = reply.choices[0].message.content
    assert text and not text.startswith("The capital") and "Paris" in text, text
    # The prompt is the conversation cut after the final message's text: longer than the question's turn alone.
    alone = client.chat.completions.create(model=MODEL, messages=messages[:1], max_tokens=1, temperature=0)
    assert reply.usage.prompt_tokens > alone.usage.prompt_tokens
    both = http.post("/v1/chat/completions", {"model": MODEL, "messages": messages, "max_tokens": 1, "continue_final_message": True})
    assert both.status == 400 and both.json()["error"]["param"] == "add_generation_prompt"


def test_stop_reason_names_the_stop_string_or_token(client, http):
    ask = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    free = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=30, temperature=0)
    assert free.choices[0].model_extra["stop_reason"] is None
    text = free.choices[0].message.content
    assert "4" in text, text
    cut = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=30, temperature=0, stop=["zzz", "4"])
    assert cut.choices[0].finish_reason == "stop" and cut.choices[0].model_extra["stop_reason"] == "4"
    # A stop token id is named by its id, streamed on the finishing chunk.
    (four,) = _tokens(http, "4")
    chunks = list(client.chat.completions.create(model=MODEL, messages=ask, max_tokens=30, temperature=0, stream=True,
                                                 extra_body={"stop_token_ids": [four]}))
    finishing = [c.choices[0] for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishing) == 1 and finishing[0].model_extra["stop_reason"] == four


def test_prompt_logprobs_agree_with_an_echo(http):
    # vLLM's prompt_logprobs and the legacy echo score the same prompt tokens with the same numbers.
    prompt = "The capital of France is Paris."
    both = http.post("/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 0, "echo": True, "logprobs": 1,
                                         "prompt_logprobs": 3})
    assert both.status == 200, both
    choice = both.json()["choices"][0]
    ids = _tokens(http, prompt)
    listed = choice["prompt_logprobs"]
    assert len(listed) == len(ids) and listed[0] is None
    echoed = choice["logprobs"]["token_logprobs"]
    for i, (token, entry) in enumerate(zip(ids[1:], listed[1:]), start=1):
        mine = entry[str(token)]
        assert abs(mine["logprob"] - echoed[i]) < 1e-4 and mine["rank"] >= 1
        # The k most likely are there too, ranked 1..3 by logprob (the prompt's token among them or not).
        ranked = sorted(entry.values(), key=lambda e: e["rank"])
        assert {e["rank"] for e in entry.values() if e is not mine} <= {1, 2, 3}
        assert all(a["logprob"] >= b["logprob"] - 1e-6 for a, b in zip(ranked, ranked[1:]))
        # The echo shows only its own logprobs count (1), though the engine computed 3.
        assert len(choice["logprobs"]["top_logprobs"][i]) <= 2
    chat = http.post("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
                                              "prompt_logprobs": 0})
    assert chat.status == 200 and chat.json()["prompt_logprobs"][0] is None and len(chat.json()["prompt_logprobs"]) > 3


def test_return_tokens_as_token_ids_gives_the_exact_ids(http):
    # Training pipelines read the sampled ids this way: they detokenize back to the answer's text.
    resp = http.post("/v1/chat/completions", {"model": MODEL, "messages": QUESTION, "max_tokens": 12, "temperature": 0, "logprobs": True,
                                              "top_logprobs": 1, "return_tokens_as_token_ids": True})
    assert resp.status == 200, resp
    choice = resp.json()["choices"][0]
    tokens = [e["token"] for e in choice["logprobs"]["content"]]
    assert all(re.fullmatch(r"token_id:\d+", t) for t in tokens), tokens
    ids = [int(t.split(":")[1]) for t in tokens]
    text = http.post("/detokenize", {"model": MODEL, "tokens": ids}).json()["prompt"]
    assert text.startswith(choice["message"]["content"]), (text, choice["message"]["content"])
