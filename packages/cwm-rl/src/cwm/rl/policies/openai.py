"""Any OpenAI-compatible endpoint, through the official ``openai`` client, in token ids.

Prompts go out as token ids and replies come back as token ids (the ``token_ids``
field of each choice, which ``cwm serve`` adds), so nothing is re-tokenized: the
rollout holds exactly the tokens the model sampled. The context length comes
from ``/v1/models`` (``max_model_len``) unless given (``cwm eval --context-len``). The
model lookup, the key and the server's refusals are `cwm.data.openai_server`'s.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cwm.core.envs import Action, Sampling, fit_max_tokens
from cwm.core.errors import CwmError
from cwm.data.openai_server import api_key as key_of
from cwm.data.openai_server import served_model, server_error


class OpenAIPolicy:
    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_len: int | None = None,
        timeout: float = 600.0,
    ):
        import openai

        self.base_url = base_url
        self.model, served_len = served_model(base_url, model=model, key=api_key)
        length = context_len or served_len
        if length is None:
            raise CwmError(
                f"the server at {base_url} does not report max_model_len; pass the model's "
                "context length (cwm eval --context-len N)"
            )
        self.context_len = length
        self.name = f"openai:{base_url}"
        self.version = 0
        self._connect = lambda: openai.AsyncOpenAI(
            base_url=base_url, api_key=key_of(api_key), timeout=timeout
        )
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def client(self) -> Any:
        """The async client of the running event loop (its connections belong to that loop,
        and each ``asyncio.run`` has a loop of its own)."""
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients = {k: v for k, v in self._clients.items() if not k.is_closed()}
            self._clients[loop] = self._connect()
        return self._clients[loop]

    async def act(self, context: list[int], sampling: Sampling) -> Action:
        import openai

        max_tokens = fit_max_tokens(sampling.max_tokens, len(context), self.context_len)
        if max_tokens < 1:
            raise CwmError(f"the context is full ({len(context)} of {self.context_len} tokens)")
        extra: dict[str, Any] = {}
        if sampling.stop_token_ids:
            extra["stop_token_ids"] = list(sampling.stop_token_ids)
        try:
            response = await self.client().completions.create(
                model=self.model,
                prompt=context,
                max_tokens=max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                seed=sampling.seed,
                logprobs=0,
                extra_body=extra or None,
            )
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise server_error(self.base_url, exc) from None
        choice = response.choices[0]
        extra_fields = choice.model_extra or {}
        tokens = extra_fields.get("token_ids")
        if tokens is None:
            raise CwmError(
                f"the server at {self.base_url} returns no token ids with its completions; "
                "use cwm serve (or a server that returns choices[].token_ids)"
            )
        logprobs = choice.logprobs.token_logprobs if choice.logprobs else None
        version = extra_fields.get("policy_version")
        self.version = version if version is not None else self.version
        # per token where the server says (cwm serve: a reply may span a weights update)
        versions = extra_fields.get("token_versions")
        if versions is None or len(versions) != len(tokens):
            versions = [version] * len(tokens) if version is not None else []
        return Action(
            tokens=list(tokens),
            logprobs=[float(x) for x in logprobs or []],
            versions=list(versions),
            finish_reason=choice.finish_reason or "stop",
        )

    def close(self) -> None:
        pass
