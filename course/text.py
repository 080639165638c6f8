"""How the course writes things for a reader: characters made visible, durations, large counts."""

from __future__ import annotations

# how the lessons name each model type
MODEL_NAMES = {"bigram": "Bigram", "gpt": "Transformer"}

DAY, YEAR = 86_400, 365.25 * 86_400
# characters that print as nothing (or as a line break), as every table and chart labels them
_LABELS = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def char_label(ch: str) -> str:
    """One character made visible: ␣ for a space, ⏎ for a newline, an escape for other unprintables.
    A longer token (BPE, words) shows each of its characters that way: '␣the'."""
    if len(ch) != 1:
        return "".join(char_label(c) for c in ch)
    if ch in _LABELS:
        return _LABELS[ch]
    return ch if ch.isprintable() else repr(ch)[1:-1]


def visible(text: str) -> str:
    """Text on one line: newlines and tabs made visible (spaces stay spaces, for reading)."""
    return "".join(char_label(ch) if ch in "\n\t\r" else ch for ch in text)


def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 2 h 10 min, 3.5 days, 74,000 years; a dash when unknown."""
    if seconds is None:
        return "–"
    if seconds >= YEAR:
        years = seconds / YEAR
        return f"{years:.3g} years" if years < 1000 else f"{round(years, -3):,.0f} years"
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.1f} days"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds:.0f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def compact(n: int) -> str:
    """3,214,080 -> '3.21M', 18,000 -> '18.0K', 175e9 -> '175B': for columns too narrow for every digit."""
    if n >= 1_000_000_000:
        return f"{n / 1e12:.3g}T" if n >= 1e12 else f"{n / 1e9:.3g}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e3:.1f}K" if n >= 10_000 else f"{n:,}"
