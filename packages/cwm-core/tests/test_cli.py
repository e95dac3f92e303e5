import json
import subprocess
import sys

from click.testing import CliRunner

from cwm.core.cli import build_cli
from cwm.core.tokenizer import Tokenizer

TOK = Tokenizer()


def cwm(*args: str, input: str | None = None):
    return CliRunner().invoke(build_cli(), list(args), input=input)


def test_help_everywhere():
    for args in (
        [],
        ["tokenizer"],
        ["tokenizer", "encode"],
        ["tokenizer", "train"],
        ["plugins"],
    ):
        result = cwm(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_the_cwm_script_runs():
    result = subprocess.run(
        [sys.executable, "-c", "from cwm.core.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout.startswith("cwm, version")


def test_encode_prints_ids_as_json():
    assert json.loads(cwm("tokenizer", "encode", "def f():").output) == TOK.encode("def f():")
    with_specials = json.loads(cwm("tokenizer", "encode", "--specials", "<|frame_sep|>x").output)
    assert with_specials == [TOK.token_id("<|frame_sep|>"), *TOK.encode("x")]
    assert json.loads(cwm("tokenizer", "encode", input="from stdin").output) == TOK.encode(
        "from stdin"
    )


def test_decode_and_its_errors():
    ids = TOK.encode("print('hi')")
    assert cwm("tokenizer", "decode", json.dumps(ids)).output == "print('hi')\n"
    bad = cwm("tokenizer", "decode", "[1, 99999999]")
    assert bad.exit_code == 1 and bad.output.startswith("Error: ids outside the vocabulary")
    assert "JSON list of integers" in cwm("tokenizer", "decode", "nope").output


def test_plugins_lists_core_commands():
    rows = json.loads(cwm("plugins", "--json").output)["plugins"]
    assert {"kind": "command", "name": "tokenizer", "package": "cwm-core"} in rows


def test_vocab_is_an_embedded_name_or_a_file():
    small, default = cwm("tokenizer", "info", "--vocab", "cwm-code-4k"), cwm("tokenizer", "info")
    assert "ranks: 4096" in small.output and "ranks: 16384" in default.output
    result = cwm("tokenizer", "encode", "--vocab", "/nonexistent.tiktoken", "x")
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "cannot read vocabulary" in result.output and "cwm-code-4k" in result.output
