"""`cwm data build`: selection, deduplication, the held-out split and the on-disk layout."""

from __future__ import annotations

import json
from array import array

import msgspec
import pytest
from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.dataset import LAYOUT_VERSION, read_manifest
from cwm.core.formats.trace import TraceText, decode_trace
from cwm.core.io import read_records
from cwm.core.schemas import Trace
from cwm.core.tokenizer import Tokenizer
from cwm.data.dataset.build import build_dataset
from cwm.data.dataset.config import BuildConfig
from cwm.data.dataset.select import Selector
from cwm.data.trace import TraceConfig, TraceTask, trace_in_process

FUNCTIONS = {
    "collatz": "def collatz(n):\n    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n    return steps\n",
    "digits": "def digits(n):\n    out = []\n    while n:\n        n, d = divmod(n, 10)\n        out.append(d)\n    return out[::-1]\n",
    "vowels": "def vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')\n",
    "pick": "def pick(d, k):\n    return d[k]\n",
    "touch": "def touch(x):\n    open('f.txt', 'w').write(str(x))\n    return x\n",
    "obj": "class A:\n    pass\n\ndef obj(x):\n    return A()\n",
}


def write_tasks(path, calls: dict[str, list[str]]) -> None:
    lines = []
    for name, args in calls.items():
        for a in args:
            lines.append(
                json.dumps(
                    {
                        "id": f"{name}({a})",
                        "source": FUNCTIONS[name],
                        "call": f"{name}({a})",
                        "module": "demo",
                    }
                )
            )
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("build")
    tasks = tmp / "tasks.jsonl"
    write_tasks(
        tasks,
        {
            "collatz": [str(n) for n in (1, 6, 7, 27, 6)],  # 6 twice: an exact duplicate
            "digits": ["1234", "98765", "5", "0"],
            "vowels": ["'hello world'", "'AEIOU'", "'rhythm'"],
            "pick": [
                "{'a': 1}, 'a'",
                "{'a': 1}, 'b'",
                "{}, 'x'",
            ],  # KeyError: within the raised quota
            "touch": ["1"],  # writes a file: side effect
            "obj": ["1"],  # result shows a memory address
        },
    )
    config = BuildConfig(
        corpora=[f"jsonl:{tasks}"],
        out=str(tmp / "ds"),
        workers=2,
        heldout_fraction=0.3,
        shard_size=4,
        per_function=3,
        max_raised_fraction=0.34,
        plot=False,
        vocab="cwm-code-4k",  # not the default: the shards and the manifest follow it
        trace=TraceConfig(max_seconds=1.0, cpu_seconds=1.0, tasks_per_process=8),
    )
    return build_dataset(config, progress=False), tmp / "ds"


def test_the_layout_is_shards_tokens_manifest_and_stats(built):
    report, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert manifest["layout_version"] == LAYOUT_VERSION
    assert manifest["tokenizer"]["vocab"] == "cwm-code-4k"
    assert manifest["tokenizer"]["n_vocab"] == Tokenizer("cwm-code-4k").n_vocab
    assert set(read_manifest(out).splits) == {"train", "heldout"}
    for split, info in manifest["splits"].items():
        assert [p.name for p in sorted((out / split).glob("traces-*.jsonl"))] == info["traces"]
        assert (
            len(list(read_records(out / split, Trace)))
            == info["count"]
            == stats["splits"][split]["traces"]
        )
    assert stats["all"]["traces"] == report.stats["all"]["traces"] > 0
    assert (
        stats["all"]["frames_per_trace"]["min"] >= 3
        and stats["all"]["token_length"]["count"] == stats["all"]["traces"]
    )


def test_selection_drops_side_effects_addresses_duplicates_and_enforces_quotas(built):
    report, out = built
    traces = [t for split in ("train", "heldout") for t in read_records(out / split, Trace)]
    per_function: dict[str, int] = {}
    for t in traces:
        per_function[t.meta["function"]] = per_function.get(t.meta["function"], 0) + 1
    assert "demo.touch" not in per_function and "demo.obj" not in per_function
    assert max(per_function.values()) <= 3
    assert sum(t.outcome == "raised" for t in traces) <= 1
    assert len({(t.call) for t in traces}) == len(traces)
    dropped = report.stats["dropped"]
    assert dropped["side effects"] == 1 and dropped["result shows an address"] == 1
    assert dropped.get("exact duplicate", 0) + dropped.get("function quota", 0) >= 1


def test_heldout_holds_whole_functions(built):
    _, out = built
    train = {t.meta["function"] for t in read_records(out / "train", Trace)}
    heldout = {t.meta["function"] for t in read_records(out / "heldout", Trace)}
    assert train and heldout and not train & heldout


def test_token_files_decode_to_the_traces(built):
    _, out = built
    tok = Tokenizer("cwm-code-4k")
    traces = list(read_records(out / "train" / "traces-00000.jsonl", Trace))
    ids = array("I", (out / "train" / "tokens-00000.bin").read_bytes())
    index = array("Q", (out / "train" / "tokens-00000.idx").read_bytes())
    assert len(index) == 3 * len(traces)
    for i, trace in enumerate(traces):
        offset, length, prompt = index[3 * i : 3 * i + 3]
        assert decode_trace(tok, list(ids[offset : offset + length])) == TraceText.of(trace)
        assert tok.decode(list(ids[offset + prompt - 1 : offset + prompt])) == "<|frame_sep|>"


def test_near_duplicates_are_dropped_within_a_function():
    source = "def first(xs, label):\n    head = xs[0]\n    return head\n"
    selector = Selector(BuildConfig(near_duplicate=0.5))
    offered = []
    for call in ["first([1, 2], 'a')", "first([1, 2], 'b')", "first([9, 8], 'a')"]:
        trace = trace_in_process(
            TraceTask(id=call, source=source, call=call, meta={"function": "first"})
        )
        offered.append(selector.offer(trace))
    assert offered == [True, False, True]  # only the label differs: same path, same values
    assert selector.dropped == {"near duplicate": 1}


def test_a_non_empty_output_needs_force(built, tmp_path):
    _, out = built
    result = CliRunner().invoke(
        build_cli(), ["data", "build", "--out", str(out), "--corpus", "jsonl:x.jsonl", "--quiet"]
    )
    assert result.exit_code == 1 and "--force" in result.output


def test_an_out_that_is_a_file_is_one_line_error(tmp_path):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    for extra in ([], ["--force"]):
        result = CliRunner().invoke(
            build_cli(),
            [
                "data",
                "build",
                "--out",
                str(existing),
                "--corpus",
                "jsonl:x.jsonl",
                "--quiet",
                *extra,
            ],
        )
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert "is a file, not a directory" in result.output
    assert existing.read_text() == "keep me"


def test_build_config_keys_are_checked():
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"per_functoin": 3}, BuildConfig)


def test_an_unknown_vocabulary_fails_before_any_tracing(tmp_path):
    result = CliRunner().invoke(
        build_cli(),
        ["data", "build", "--out", str(tmp_path / "ds"), "--set", "vocab=cwm-code-8k", "--quiet"],
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "vocab: 'cwm-code-8k' is not an embedded vocabulary (cwm-code-16k, cwm-code-4k)" in (
        result.output
    )
    assert not (tmp_path / "ds").exists()
