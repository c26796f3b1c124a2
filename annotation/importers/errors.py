from dataclasses import dataclass


@dataclass(frozen=True)
class ImportProblem:
    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class ImportFailed(Exception):
    """Raised with every problem found; nothing was written."""

    MAX_SHOWN = 20

    def __init__(self, problems: list[ImportProblem]):
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [str(problem) for problem in self.problems[: self.MAX_SHOWN]]
        hidden = len(self.problems) - self.MAX_SHOWN
        if hidden > 0:
            lines.append(f"... and {hidden} more problem(s)")
        return "\n".join(lines)
