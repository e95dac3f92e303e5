"""Every episode of an RL run ends exactly once: the environment's ``finish`` when the
harness or the run ended it, then ``close``; environment steps run off the engine's thread;
the free-running actor keeps the lag bound."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import defaultdict

import pytest
from rl_run_fixtures import LowTokens, install, toml, write_rows

from cwm.core.plugins import hookimpl, register_plugin, unregister_plugin
from cwm.rl.run.config import load_rl_config
from cwm.rl.run.loop import RLRun
from cwm.train.metrics import read_metrics

EVENTS: list[tuple] = []  # (what, episode, detail), in the order they happened
IDS = itertools.count()


class Recorded:
    def __init__(self, inner):
        self.inner, self.id = inner, next(IDS)

    def close(self) -> None:
        EVENTS.append(("close", self.id, ""))


class RecordedLowTokens(LowTokens):
    """`low-tokens` that records every call, and grades slowly (as tests in a sandbox do)."""

    name = "recorded"

    def start(self, row):
        state, first = super().start(row)
        rec = Recorded(state)
        EVENTS.append(("start", rec.id, ""))
        return rec, first

    def step(self, state, action):
        time.sleep(0.002)
        t = super().step(state.inner, action)
        EVENTS.append(("step", state.id, (threading.current_thread().name, t.done)))
        return t

    def finish(self, state, reason):
        EVENTS.append(("finish", state.id, reason))
        return super().finish(state.inner, reason)


class Plugin:
    @hookimpl
    def register_environments(self):
        return {"recorded": RecordedLowTokens}


@pytest.fixture
def recorded():
    install()
    with contextlib.suppress(Exception):
        unregister_plugin("recorded-env")
    register_plugin(Plugin(), "recorded-env")
    EVENTS.clear()
    yield EVENTS
    unregister_plugin("recorded-env")


def test_each_episode_gets_finish_once_and_close_once(tmp_path, recorded):
    rows = write_rows(tmp_path / "rows.jsonl")
    path = toml(tmp_path / "rl.toml", rows, tmp_path / "run", groups_per_step=2, group_size=2)
    path.write_text(path.read_text().replace('"low-tokens"', '"recorded"'))
    # a save every step restarts the groups in flight; a short context cuts long episodes
    overrides = ["steps=3", "max_lag=1", "checkpoint.interval=1", "engine.max_model_len=22"]
    summary = RLRun(load_rl_config(path, overrides), progress=False).run()
    # free-running (the default) keeps the lag bound too
    steps = [r for r in read_metrics(tmp_path / "run") if "reward" in r]
    assert summary["samples"] == 3 * 4 and summary["dropped_stale"] == 0
    assert all(int(k) <= 1 for r in steps for k in r["staleness"])

    by_episode: dict[int, list[tuple]] = defaultdict(list)
    for what, ep, detail in recorded:
        by_episode[ep].append((what, detail))
    reasons = set()
    for calls in by_episode.values():
        kinds = [w for w, _ in calls]
        assert kinds[0] == "start" and kinds.count("start") == 1, calls
        assert kinds[-1] == "close" and kinds.count("close") == 1, calls
        ended_by_env = any(d[1] for w, d in calls if w == "step")
        finishes = [d for w, d in calls if w == "finish"]
        assert len(finishes) == (0 if ended_by_env else 1), calls
        reasons.update(finishes)
    assert reasons == {"abort", "context"}  # both ways the run ends an episode were taken
    threads = {d[0] for w, _, d in recorded if w == "step"}
    assert threads and all(t.startswith("env-step") for t in threads)


class Grading(LowTokens):
    """`low-tokens` whose step on the row ``slow`` waits until the test lets it finish."""

    name = "grading"

    def __init__(self):
        self.release = threading.Event()

    def step(self, state, action):
        if state.turns == 1:  # the slow row: one turn, graded at length
            assert self.release.wait(60), "the test never released the grade"
        return super().step(state, action)


def test_the_engine_keeps_decoding_while_an_environment_grades():
    from rl_run_fixtures import LowFraction

    from cwm.core.model import build_model
    from cwm.rl.run.actor import Actor, LiveTask
    from cwm.rl.run.config import RLConfig
    from cwm.rl.run.loop import build_engine
    from cwm.rl.run.samples import EpisodeSpec

    cfg = RLConfig()
    env = Grading()
    rows = [{"prompt": [500, 600, 700], "turns": 1}, {"prompt": [800, 900], "turns": 3}]
    task = LiveTask("t", env, LowFraction(), rows, max_tokens=4)
    engine = build_engine(cfg, build_model(cfg.model_config(), seed=0), 0)
    actor = Actor(engine, {"t": task}, group_size=2, deterministic=False)
    try:
        for row in range(len(rows)):
            actor.issue(EpisodeSpec(group=row, task="t", row=row, seed=row))
        done = []
        for _ in range(500):  # the three-turn group ends while the one-turn group is graded
            done += actor.tick()
            if done:
                break
        assert [g.spec.row for g in done] == [1] and len(actor.steps) == 2
        env.release.set()
        while actor.groups:
            done += actor.tick()
        assert [g.spec.row for g in done] == [1, 0]
    finally:
        env.release.set()
        actor.close()


class GradingRecorded(Grading):
    name = "grading-recorded"

    def __init__(self):
        super().__init__()
        self.finished: list[str] = []

    def finish(self, state, reason):
        self.finished.append(reason)
        return super().finish(state, reason)


def test_an_episode_its_environment_ended_gets_no_finish_when_a_save_restarts_it():
    """A step that ended the episode but had not landed when a save restarted the group:
    the environment said done, so it gets no `finish`, only `close`."""
    from rl_run_fixtures import LowFraction

    from cwm.core.model import build_model
    from cwm.rl.run.actor import Actor, LiveTask
    from cwm.rl.run.config import RLConfig
    from cwm.rl.run.loop import build_engine
    from cwm.rl.run.samples import EpisodeSpec

    cfg = RLConfig()
    env = GradingRecorded()
    task = LiveTask(
        "t", env, LowFraction(), [{"prompt": [500, 600, 700], "turns": 1}], max_tokens=4
    )
    engine = build_engine(cfg, build_model(cfg.model_config(), seed=0), 0)
    actor = Actor(engine, {"t": task}, group_size=2, deterministic=False)
    try:
        actor.issue(EpisodeSpec(group=0, task="t", row=0, seed=0))
        for _ in range(500):  # both samples generated, their grades held in the workers
            actor.tick()
            if len(actor.steps) == 2:
                break
        assert len(actor.steps) == 2
        env.release.set()  # the grades end both episodes, but no tick lands them
        assert [spec.group for spec in actor.abort_all()] == [0]
        assert env.finished == []
    finally:
        env.release.set()
        actor.close()
    assert env.finished == []
