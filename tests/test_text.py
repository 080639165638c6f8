"""How the course writes characters, durations and counts for a reader: one way each."""

from course.text import char_label, compact, duration, visible


def test_every_invisible_character_gets_one_label():
    assert [char_label(c) for c in " \n\t\rA"] == ["␣", "⏎", "⇥", "␍", "A"]
    assert char_label("\x0c") == "\\x0c"
    assert char_label("é") == "é"


def test_visible_keeps_spaces_and_shows_line_breaks():
    assert visible("ROMEO:\nO Romeo\t!") == "ROMEO:⏎O Romeo⇥!"


def test_durations_read_naturally():
    assert [duration(s) for s in (None, 12.4, 185, 7800)] == ["–", "12 s", "3 min 05 s", "2 h 10 min"]


def test_large_counts_fit_a_narrow_column():
    assert [compact(n) for n in (4_225, 18_000, 3_214_080)] == ["4,225", "18.0K", "3.21M"]


def test_very_long_durations_and_counts():
    day = 86_400
    assert [duration(s) for s in (30 * 3600, 3.5 * day, 4 * 365.25 * day)] == [
        "30 h 00 min",
        "3.5 days",
        "4 years",
    ]
    assert duration(2.3e12) == "73,000 years"
    assert [compact(n) for n in (1_500_000_000, 175_000_000_000, 300 * 10**9)] == ["1.5B", "175B", "300B"]
    assert compact(3 * 10**12) == "3T"
