"""What actors hand the learner: finished samples, grouped by prompt.

A sample is one episode flattened to one row of tokens (prompt, each action and the
observations between them) with the action tokens marked, the behaviour logprob and
the weights version of each action token, and the episode's reward. Samples and
groups are msgspec Structs so the buffer of finished groups goes into checkpoints.
"""

from __future__ import annotations

import msgspec


class EpisodeSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to start (or restart) one group's episodes."""

    group: int  # the group's serial number in the run
    task: str
    row: int  # index into the task's rows
    seed: int  # sampling seed of the group; sample i of turn k uses seed + 1000 * k + i


class Sample(msgspec.Struct, kw_only=True):
    tokens: list[int]
    action: list[bool]  # per position of ``tokens``: sampled by the policy
    logprobs: list[float]  # behaviour logprob of each action token, in order
    versions: list[int]  # weights version of each action token, in order
    reward: float
    truncated: bool
    finish: str
    issue_version: int  # learner version when the episode was (re)started

    @property
    def oldest(self) -> int:
        return min(self.versions) if self.versions else self.issue_version

    @property
    def response_tokens(self) -> int:
        return len(self.versions)


class Group(msgspec.Struct, kw_only=True):
    spec: EpisodeSpec
    row_id: str
    issue_version: int
    samples: list[Sample]

    @property
    def oldest(self) -> int:
        return min(s.oldest for s in self.samples)


encode = msgspec.json.Encoder().encode
decode_groups = msgspec.json.Decoder(list[Group]).decode
decode_specs = msgspec.json.Decoder(list[EpisodeSpec]).decode
