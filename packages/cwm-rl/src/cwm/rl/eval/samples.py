"""``samples.jsonl``: one record per (row, sample), appended as episodes finish.

A run that stops (Ctrl-C, a crash, a server gone) keeps every finished sample;
the next run over the same ``--out`` reads them and runs only the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cwm.core.envs import Rollout, token_rewards
from cwm.core.io import read_records
from cwm.core.schemas.base import Record
from cwm.core.tokenizer import Tokenizer


class EvalSample(Record, tag="eval-sample", kw_only=True):
    task: str
    row_id: str
    sample: int  # which of the row's K samples
    prompt_tokens: list[int]
    prompt: str
    response_tokens: list[int]  # every action and observation after the prompt
    response: str
    outcomes: dict[str, Any]
    score: float  # the task's headline metric for this sample, in [0, 1]
    reward: float  # the reward summed over the action tokens
    finish: str
    turns: int
    action_tokens: int = 0  # what the policy wrote (best@k's last tie-break: the fewest)
    policy_version: int | None = None  # of the first sampled token, when the policy knows
    seconds: float
    #: the last transition's text ``info`` (swe's submitted ``patch``, swe-testgen's ``test``)
    info: dict[str, str] = {}


def sample_id(row_id: str, k: int) -> str:
    return f"{row_id}/{k}"


def read_samples(path: Path) -> list[EvalSample]:
    """Finished samples of an earlier run (a partial last line, from a crash, is ignored)."""
    if not path.exists():
        return []
    return list(read_records(path, EvalSample, on_error="skip"))


def make_sample(
    tok: Tokenizer, task: str, k: int, rollout: Rollout, *, metric: str, reward: Any, seconds: float
) -> EvalSample:
    response = rollout.tokens[len(rollout.prompt) :]
    headline = rollout.outcomes.get(metric)
    score = float(headline) if isinstance(headline, bool | int | float) else 0.0
    versions = [v for a in rollout.actions for v in a.versions]
    value = reward(rollout)
    total = float(value) if isinstance(value, int | float) else sum(token_rewards(value, rollout))
    last = rollout.transitions[-1].info if rollout.transitions else {}
    return EvalSample(
        id=sample_id(rollout.row_id, k),
        task=task,
        row_id=rollout.row_id,
        sample=k,
        prompt_tokens=rollout.prompt,
        prompt=tok.decode(rollout.prompt),
        response_tokens=response,
        response=tok.decode(response),
        outcomes=rollout.outcomes,
        score=score,
        reward=total,
        finish=rollout.finish,
        turns=len(rollout.actions),
        action_tokens=sum(len(a.tokens) for a in rollout.actions),
        policy_version=versions[0] if versions else None,
        seconds=round(seconds, 4),
        info={k: v for k, v in last.items() if isinstance(v, str)},
    )
