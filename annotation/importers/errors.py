from dataclasses import dataclass, field


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


# Problems kept per import: a huge bad file lists this many (the API shows up to 1000)
# and counts the rest, so collecting problems stays in bounded memory too.
MAX_KEPT = 1000


class ImportFailed(Exception):
    """Raised with every problem found (up to MAX_KEPT, and how many in all); nothing was written."""

    MAX_SHOWN = 20

    def __init__(self, problems: list[ImportProblem], total: int | None = None):
        self.problems = problems
        self.total = max(total or 0, len(problems))
        super().__init__(self.render())

    def render(self) -> str:
        lines = [str(problem) for problem in self.problems[: self.MAX_SHOWN]]
        hidden = self.total - min(len(self.problems), self.MAX_SHOWN)
        if hidden > 0:
            lines.append(f"... and {hidden} more problem(s)")
        return "\n".join(lines)


@dataclass
class Problems:
    """Collects problems for one file: the first MAX_KEPT, and how many in all."""

    file: str
    items: list[ImportProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, line: int | None, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_KEPT:
            self.items.append(ImportProblem(self.file, line, column, message))

    def __bool__(self) -> bool:
        return self.total > 0

    def failure(self) -> ImportFailed:
        return ImportFailed(self.items, self.total)
