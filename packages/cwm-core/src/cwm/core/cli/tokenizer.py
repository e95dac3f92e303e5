"""``cwm tokenizer``: train the embedded vocabularies, encode and decode text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cwm.core.cli import group
from cwm.core.errors import CwmError

tokenizer = group("tokenizer", "Train, inspect and use the CWM tokenizer.")
_vocab = click.option(
    "--vocab",
    default=None,
    metavar="NAME|FILE",
    help="An embedded vocabulary (cwm-code-16k, the default; cwm-code-4k) or a tiktoken file.",
)


def _text(text: str | None) -> str:
    return sys.stdin.read() if text is None or text == "-" else text


@tokenizer.command("encode")
@_vocab
@click.option("--specials", is_flag=True, help="Map special-token strings in TEXT to their ids.")
@click.argument("text", required=False)
def encode(vocab: str | None, specials: bool, text: str | None) -> None:
    """Print the token ids of TEXT (or standard input) as a JSON list."""
    from cwm.core.tokenizer import Tokenizer

    tok = Tokenizer(vocab)
    data = _text(text)
    click.echo(json.dumps(tok.encode_with_specials(data) if specials else tok.encode(data)))


@tokenizer.command("decode")
@_vocab
@click.argument("ids", required=False)
def decode(vocab: str | None, ids: str | None) -> None:
    """Print the text of a JSON list of token ids (argument or standard input)."""
    from cwm.core.tokenizer import Tokenizer

    try:
        values = json.loads(_text(ids))
    except json.JSONDecodeError as exc:
        raise CwmError(f"IDS must be a JSON list of integers: {exc}") from None
    if not isinstance(values, list) or not all(isinstance(i, int) for i in values):
        raise CwmError("IDS must be a JSON list of integers")
    tok = Tokenizer(vocab)
    bad = [i for i in values if not 0 <= i < tok.n_vocab]
    if bad:
        raise CwmError(f"ids outside the vocabulary (0..{tok.n_vocab - 1}): {bad[:5]}")
    click.echo(tok.decode(values))


@tokenizer.command("info")
@_vocab
def info(vocab: str | None) -> None:
    """Show the vocabulary's size, special-token ids and provenance."""
    from cwm.core.tokenizer import Tokenizer, specials

    tok = Tokenizer(vocab)
    click.echo(f"vocabulary: {tok.path}")
    click.echo(f"ranks: {tok.n_ranks}  vocab size with specials: {tok.n_vocab}")
    for name in specials.NAMED_OFFSETS:
        click.echo(f"  {tok.specials[name]:>7}  {name}")
    sidecar = tok.path.with_suffix(".json")
    if sidecar.exists():
        click.echo("provenance: " + sidecar.read_text().strip())


@tokenizer.command("train")
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    type=click.Path(exists=True),
    help="A directory or .py file to train on (repeatable; default: this Python's stdlib).",
)
@click.option(
    "--ranks",
    default=16384,
    show_default=True,
    type=click.IntRange(256, 1 << 20),
    help="Number of BPE ranks (cwm-code-16k has 16384; cwm-code-4k is its first 4096).",
)
@click.option(
    "--max-bytes",
    type=int,
    default=None,
    help="Stop reading the corpus after this many characters.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the BPE file (default: cwm-code-16k.tiktoken for 16384 ranks, "
    "cwm-code-4k.tiktoken for 4096); a provenance .json is written beside it.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(
    corpora: tuple[str, ...], ranks: int, max_bytes: int | None, out: str | None, quiet: bool
) -> None:
    """Train a byte-level BPE vocabulary for code.

    With no options this reproduces the embedded vocabulary (on the same Python
    version): the standard library's .py files, 16384 ranks.
    """
    from cwm.core.tokenizer.train import provenance, train_vocab, write_ranks

    size = f"{ranks // 1024}k" if ranks % 1024 == 0 else str(ranks)
    out = out or f"cwm-code-{size}.tiktoken"
    tokens = train_vocab(list(corpora) or None, ranks, max_bytes=max_bytes, progress=not quiet)
    sha = write_ranks(out, tokens)
    meta = provenance(len(tokens), sha, [str(Path(c)) for c in corpora] or None, max_bytes)
    Path(out).with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    click.echo(f"wrote {out}: {len(tokens)} ranks, sha256 {sha[:16]}")
