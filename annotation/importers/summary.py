"""What every import returns (`ImportSummary`) and how it stops before writing
(`fail_if`: every problem found so far, as one ImportFailed)."""

from dataclasses import dataclass, field

from .errors import Problems


@dataclass
class ImportSummary:
    file: str
    rows: int
    counts: dict[str, int | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.file}: {self.rows} row(s) read"]
        parts += [f"{name} {count}" for name, count in self.counts.items()]
        text = "; ".join(parts)
        if self.notes:
            text += "\n" + "\n".join(f"  note: {note}" for note in self.notes)
        return text


def fail_if(problems: Problems) -> None:
    if problems:
        raise problems.failure()
