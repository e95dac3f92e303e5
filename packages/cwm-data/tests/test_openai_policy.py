"""The openai:BASE_URL policy, through the official openai client, against a real HTTP server.

cwm-data may not depend on cwm-serve, and a model would not replay the oracle, so
the test runs a small OpenAI-compatible server on 127.0.0.1 whose replies come
from the oracle policy: the HTTP, the client and the message conversion are all
real.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_swe_env_local import _task

from cwm.core.formats.chat import encode_chat
from cwm.core.schemas import Message, Task
from cwm.core.tokenizer import Tokenizer
from cwm.data.envs.swe import SWEEnv
from cwm.data.forager.agent import run_episode
from cwm.data.forager.policies import OraclePolicy, make_policy
from cwm.data.sandbox.local import LocalBackend

pytest.importorskip("openai")


class ScriptedServer:
    def __init__(self, task: Task, max_model_len: int | None = None):
        self.oracle, self.task, self.requests = OraclePolicy(), task, []
        self.max_model_len = max_model_len
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                card = {
                    "id": "scripted-oracle",
                    "object": "model",
                    "created": 0,
                    "owned_by": "test",
                }
                if server.max_model_len:
                    card["max_model_len"] = server.max_model_len
                models = [card]
                self._send({"object": "list", "data": models})

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(request)
                self._send(server.complete(request))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def complete(self, request: dict) -> dict:
        messages = [
            Message(
                role=m["role"],
                content=m["content"],
                tool=m.get("name") if m["role"] == "tool" else None,
            )
            for m in request["messages"]
        ]
        if len(messages) == 2:  # a new episode: system + user prompt
            self.oracle.start(self.task)
        reply = self.oracle(messages)
        return {
            "id": f"cmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": request["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": reply},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def test_openai_policy_resolves_a_task_through_a_server(tiny_repo: Path) -> None:
    task = _task(tiny_repo)
    server = ScriptedServer(task)
    try:
        policy = make_policy(f"openai:{server.url}")
        trajectory = run_episode(SWEEnv(task, LocalBackend()), policy)
    finally:
        server.httpd.shutdown()
    assert trajectory.policy == f"openai:{server.url}"
    assert trajectory.finish == "submitted" and trajectory.tests and trajectory.tests.resolved
    assert {r["model"] for r in server.requests} == {"scripted-oracle"}
    last = server.requests[-1]["messages"]
    assert [m["role"] for m in last[:2]] == ["system", "user"]
    tool_messages = [m for m in last if m["role"] == "tool"]
    assert tool_messages and all(m["tool_call_id"] == m["name"] for m in tool_messages)


def test_unreachable_server_ends_the_episode_with_an_error(tiny_repo: Path) -> None:
    policy = make_policy("openai:http://127.0.0.1:9/v1", model="m", timeout=2.0)
    trajectory = run_episode(SWEEnv(_task(tiny_repo), LocalBackend()), policy)
    assert trajectory.finish == "error" and "no server answers at" in trajectory.meta["error"]
    assert trajectory.tests is not None and not trajectory.tests.resolved


def _prompt_tokens(request: dict) -> int:
    messages = [
        Message(role=m["role"], content=m["content"], tool=m.get("name"))
        for m in request["messages"]
    ]
    return len(encode_chat(Tokenizer(), messages, generation_prompt=True))


def test_max_tokens_fit_the_context_the_server_reports(tiny_repo: Path) -> None:
    task = _task(tiny_repo)
    server = ScriptedServer(task, max_model_len=4096)
    try:
        trajectory = run_episode(SWEEnv(task, LocalBackend()), make_policy(f"openai:{server.url}"))
    finally:
        server.httpd.shutdown()
    assert trajectory.finish == "submitted"
    for request in server.requests:  # never more than the room: cwm serve would answer 400
        assert request["max_tokens"] == min(4096, 4096 - _prompt_tokens(request))


def test_a_chat_that_outgrows_the_context_ends_the_episode_context(tiny_repo: Path) -> None:
    task = _task(tiny_repo)
    server = ScriptedServer(task, max_model_len=600)
    try:
        trajectory = run_episode(SWEEnv(task, LocalBackend()), make_policy(f"openai:{server.url}"))
    finally:
        server.httpd.shutdown()
    assert trajectory.finish == "context", trajectory.meta
    assert "context is 600" in trajectory.meta["error"]
    assert all(r["max_tokens"] + _prompt_tokens(r) <= 600 for r in server.requests)
