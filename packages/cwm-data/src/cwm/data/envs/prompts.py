"""The SWE environment's prompt text: the tool specification and the task."""

from __future__ import annotations

from cwm.core.schemas import Task

ENVIRONMENT = """\
You work in a Linux sandbox holding a code repository. The bash session persists between \
commands; it restarts (back in the repository root) when a command fails to finish within \
{command_timeout:g} seconds or ends the shell. You have at most {max_turns} turns, \
{max_tokens} tokens of context and {time_budget:g} seconds; each tool result reports what is left.

Call exactly one tool per turn, at the end of your reply:

<tool: bash>
COMMANDS
</tool>
Runs COMMANDS (one or more lines, non-interactive) in the bash session.

<tool: edit>
PATH
<<<<<<< SEARCH
LINES TO FIND
=======
LINES TO PUT INSTEAD
>>>>>>> REPLACE
</tool>
Replaces the search lines in the existing file PATH. They must match exactly one run of \
whole consecutive lines of the file, indentation included.

<tool: create>
PATH
CONTENT
</tool>
Creates the file PATH with CONTENT. PATH must not exist; its directory must.

<tool: submit>
PATH
</tool>
Submits the patch file at PATH, which must start with "diff" (for example, written with \
`git diff > /tmp/fix.patch`). You may submit again to replace it. After submitting, reply \
without a tool call to finish."""

TASK = """\
The repository {repo} is at {workdir}, with its dependencies installed; the bash session \
starts there.

<task>
{instruction}
</task>

Make the change in the source code, check it by running the tests, then submit a patch of \
your change."""

BUDGET = """<budget>
turns left: {turns}
tokens left: {tokens}
seconds left: {seconds}
</budget>"""


def task_prompt(task: Task, workdir: str) -> str:
    return TASK.format(
        repo=task.repo or "under test", workdir=workdir, instruction=task.instruction.strip()
    )
