"""Fitting a view to a screen's height: a live view taller than the terminal would lose its
last lines (rich crops the bottom), and the last line of `rollout watch` is the one that
says when the next check comes and how to stop."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text


class AboveFooter:
    """``body`` over ``footer`` in at most ``height`` lines (default: the screen's height
    less one, the line the cursor rests on): when the body is taller than the room it has,
    its last lines give way to one line that says how many were left out, and the footer
    stays on screen."""

    def __init__(
        self, body: RenderableType, footer: RenderableType, height: int | None = None
    ) -> None:
        self.body, self.footer, self.height = body, footer, height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update(height=None)
        body = console.render_lines(self.body, unbounded, pad=False)
        footer = console.render_lines(self.footer, unbounded, pad=False)
        height = self.height if self.height is not None else options.size.height - 1
        room = max(1, height - len(footer))
        if len(body) > room:
            left_out = len(body) - room + 1
            note = Text(
                f"… {left_out} more lines: a taller terminal shows them, as does rollout check",
                style="dim",
                no_wrap=True,
                overflow="ellipsis",
            )
            body = [*body[: room - 1], console.render_lines(note, unbounded, pad=False)[0]]
        for line in [*body, *footer]:
            yield from line
            yield Segment.line()
