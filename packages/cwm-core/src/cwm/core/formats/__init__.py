"""CWM's text formats as render + parse pairs, in text and in token ids.

- `chat`: messages with role headers, the generation and reasoning prompts.
- `tools`: ``<tool: NAME>`` calls, one per turn, with a distinct error per mistake.
- `edit`: the SEARCH/REPLACE edit block and the create-file input.
- `trace`: execution traces with the START_OF_TRACE prompt and four frame kinds.
"""

from cwm.core.formats.errors import FormatError

__all__ = ["FormatError"]
