"""Errors a user can cause or meet, each with its documented exit code.

Exit codes (shared by every command, see README "Exit codes"):
0 ok; 1 breach or refused action; 2 invalid input (plan, arguments);
3 a platform or metrics backend unreachable or refusing (nothing was changed);
4 conflict: the flag changed while we worked (nothing was changed);
5 internal error: a bug in the tool, not something the user did (one line on stderr asking
for a report; ``ROLLOUT_DEBUG=1`` shows the traceback instead).
141 (128 + SIGPIPE): stdout's reader went away (``rollout check X | head -1``): quiet, as
git and the coreutils end there; a shell without ``pipefail`` sees the reader's status.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BREACH = 1
EXIT_INVALID = 2
EXIT_BACKEND = 3
EXIT_CONFLICT = 4
EXIT_INTERNAL = 5
EXIT_BROKEN_PIPE = 141


def one_line(text: str) -> str:
    """``text`` on one line: control characters (a newline in a server's answer or a key, a
    tab, a line separator) shown as their escapes, so a message can never split or forge
    lines of output."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class RolloutError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback: its text is
    one line whatever a server or a file put into it."""

    exit_code = EXIT_BREACH

    def __str__(self) -> str:
        return one_line(super().__str__())


class RefusedError(RolloutError):
    """An action the tool will not take (no terminal to confirm on, declined, unsafe)."""

    exit_code = EXIT_BREACH


class InvalidInputError(RolloutError):
    """Bad arguments or an unusable plan reference."""

    exit_code = EXIT_INVALID


class PlanError(InvalidInputError):
    """A plan that does not validate; carries one line per problem (file:line: key: message)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [one_line(problem) for problem in problems]
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


class BackendError(RolloutError):
    """A flag platform or metrics backend that is unreachable, refusing, or not understood."""

    exit_code = EXIT_BACKEND

    def __init__(self, backend: str, message: str, hint: str | None = None) -> None:
        self.backend = backend
        self.hint = hint
        text = f"{backend}: {message}"
        if hint:
            text += f" (hint: {hint})"
        super().__init__(text)


class ConflictError(RolloutError):
    """The flag changed between our read and our write; nothing was written."""

    exit_code = EXIT_CONFLICT


class InternalError(RolloutError):
    """A bug met while working on one item (a plan of several): reported as that item's
    error, with the exception's type and message, so the others still get their verdicts."""

    exit_code = EXIT_INTERNAL

    @classmethod
    def of(cls, exc: BaseException, where: str) -> InternalError:
        detail = " ".join(str(exc).split())[:300]
        return cls(
            f"internal error while {where}: {type(exc).__name__}: {detail} "
            "(a bug: please report it; ROLLOUT_DEBUG=1 shows the traceback)"
        )
