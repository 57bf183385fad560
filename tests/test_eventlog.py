"""The event-log reader: good rows become Events, each bad row is named, counted and skipped."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.eventlog import (
    BACKWARDS,
    BAD_TIME,
    COLUMN_COUNT,
    DUPLICATE,
    FUTURE,
    MALFORMED,
    NO_OFFSET,
    PROBLEM_REASONS,
    UNKNOWN_KIND,
    LogBroken,
    LogReader,
    read_log,
)
from host.events import Event

NOW = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
HEADER = "time,household,event\n"


def utc(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def write(tmp_path, text: str, name: str = "log.csv", mode: str = "w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def test_good_log_gives_utc_events_sorted_and_offsets(tmp_path):
    path = write(tmp_path, HEADER + (
        "2024-05-01T09:00:00+09:00,kim,on\n"
        "2024-05-01T01:00:00+01:00,lee,activity\n"  # the same instant as kim's first
        "2024-05-01T09:05:00+09:00,kim,off\n"
        "2024-04-30T23:30:00Z,park,activity\n"
    ))
    log = read_log(path, NOW)
    assert log.problems == []
    assert [e.time for e in log.events] == sorted(e.time for e in log.events)
    assert Event("kim", utc("2024-05-01T00:00:00+00:00"), "on") in log.events
    assert log.events[0] == Event("park", utc("2024-04-30T23:30:00+00:00"), "activity")
    assert log.offsets == {
        "kim": timezone(timedelta(hours=9)),
        "lee": timezone(timedelta(hours=1)),
        "park": UTC,
    }
    assert log.households() == ["kim", "lee", "park"]


def test_reader_streams_in_file_order(tmp_path):
    path = write(tmp_path, HEADER + "2024-05-01T10:00+09:00,b,on\n2024-05-01T09:00+09:00,a,on\n")
    events = list(LogReader(path, NOW))
    assert [e.household for e in events] == ["b", "a"]  # read_log sorts; the reader does not


def test_header_in_any_order_bom_crlf_and_blank_lines(tmp_path):
    body = "\ufeffEvent, Time ,household\r\non,2024-05-01T09:00+09:00,kim\r\n\r\n"
    body += "off,2024-05-01T09:01+09:00,kim\r\n"
    log = read_log(write(tmp_path, body), NOW)
    assert log.problems == []
    assert [e.kind for e in log.events] == ["on", "off"]


def test_kind_case_is_forgiven(tmp_path):
    log = read_log(write(tmp_path, HEADER + "2024-05-01T09:00+09:00,kim,ON\n"), NOW)
    assert log.events[0].kind == "on" and log.problems == []


# Each bad row: (row text, reason, words the message must contain)
BAD_ROWS = [
    ('2024-05-01T09:10+09:00,"kim,on\n', MALFORMED, "not a CSV row"),
    ("2024-05-01T09:10+09:00,kim\n", COLUMN_COUNT, "2 columns (missing)"),
    ("2024-05-01T09:10+09:00,kim,on,extra\n", COLUMN_COUNT, "4 columns (extra)"),
    ("yesterday,kim,on\n", BAD_TIME, "'yesterday' is not ISO 8601"),
    ("2024-05-01T25:00+09:00,kim,on\n", BAD_TIME, "is not ISO 8601"),
    ("0001-01-01T00:00:00+09:00,kim,on\n", BAD_TIME, "before 2000: not a real recording"),
    ("1999-12-31T23:59:00+00:00,kim,on\n", BAD_TIME, "before 2000: not a real recording"),
    ("2024-05-01T09:10:00,kim,on\n", NO_OFFSET, "has no UTC offset"),
    ("2024-05-01T09:10+09:00,kim,sneeze\n", UNKNOWN_KIND, "unknown event 'sneeze'"),
    ("2024-05-01T09:10+09:00,,on\n", MALFORMED, "household is empty"),
    ("2024-05-01T08:00+09:00,kim,on\n", BACKWARDS, "earlier than household 'kim'"),
    ("2035-05-01T09:10+09:00,kim,on\n", FUTURE, "in the future"),
    ("2024-05-01T09:05+09:00,kim,off\n", DUPLICATE, "duplicate of line 3"),
    ("2024-05-01T00:05Z,kim,off\n", DUPLICATE, "duplicate of line 3"),  # same instant
]


@pytest.mark.parametrize(("row", "reason", "words"), BAD_ROWS)
def test_each_bad_row_is_named_counted_and_the_rest_still_read(tmp_path, row, reason, words):
    body = HEADER + (
        "2024-05-01T09:00+09:00,kim,on\n"  # line 2
        "2024-05-01T09:05+09:00,kim,off\n"  # line 3
        + row  # line 4: the bad one
        + "2024-05-01T10:00+09:00,kim,on\n"  # line 5
        "2024-05-01T10:01+09:00,lee,activity\n"  # line 6
    )
    path = write(tmp_path, body)
    log = read_log(path, NOW)
    assert len(log.problems) == 1, log.problems
    problem = log.problems[0]
    assert (problem.line, problem.reason) == (4, reason)
    assert words in problem.message
    assert str(problem).startswith(f"{path}:4: ")
    assert log.counts() == {reason: 1}
    assert [(e.household, e.kind) for e in log.events] == [
        ("kim", "on"), ("kim", "off"), ("kim", "on"), ("lee", "activity"),
    ]


def test_many_bad_rows_are_all_counted_by_reason(tmp_path):
    rows = "".join(row for row, _, _ in BAD_ROWS)
    body = HEADER + "2024-05-01T09:00+09:00,kim,on\n2024-05-01T09:05+09:00,kim,off\n" + rows
    log = read_log(write(tmp_path, body), NOW)
    expected: dict[str, int] = {}
    for _, reason, _ in BAD_ROWS:
        expected[reason] = expected.get(reason, 0) + 1
    # Skipped rows never move a household's clock, so each row is judged on its own.
    assert log.counts() == expected
    assert [p.line for p in log.problems] == list(range(4, 4 + len(BAD_ROWS)))
    assert len(log.events) == 2


def test_a_household_going_backwards_does_not_affect_another(tmp_path):
    body = HEADER + (
        "2024-05-01T10:00+09:00,kim,on\n"
        "2024-05-01T08:00+09:00,lee,on\n"  # earlier than kim's, but lee's own first: fine
        "2024-05-01T09:00+09:00,kim,off\n"  # backwards for kim
    )
    log = read_log(write(tmp_path, body), NOW)
    assert log.counts() == {BACKWARDS: 1}
    assert "previous event on line 2" in log.problems[0].message
    assert sorted(e.household for e in log.events) == ["kim", "lee"]


def test_same_instant_different_kind_is_not_a_duplicate(tmp_path):
    body = HEADER + "2024-05-01T09:00+09:00,kim,on\n2024-05-01T09:00+09:00,kim,off\n"
    body += "2024-05-01T09:00+09:00,kim,on\n"  # this one repeats line 2
    log = read_log(write(tmp_path, body), NOW)
    assert [e.kind for e in log.events] == ["on", "off"]
    assert [(p.line, p.reason) for p in log.problems] == [(4, DUPLICATE)]
    assert "duplicate of line 2" in log.problems[0].message


def test_future_is_judged_against_the_callers_now_not_a_clock(tmp_path):
    path = write(tmp_path, HEADER + "2024-05-01T09:00+09:00,kim,on\n")
    assert read_log(path, utc("2024-05-01T00:00:00+00:00")).counts() == {}  # exactly now: fine
    late = read_log(path, utc("2024-04-30T23:59:59+00:00"))
    assert late.counts() == {FUTURE: 1} and late.events == []


def test_a_future_row_does_not_push_the_household_clock(tmp_path):
    body = HEADER + "2024-05-01T09:00+09:00,kim,on\n2099-01-01T00:00Z,kim,off\n"
    body += "2024-05-01T09:01+09:00,kim,off\n"
    log = read_log(write(tmp_path, body), NOW)
    assert log.counts() == {FUTURE: 1}
    assert len(log.events) == 2


def test_a_line_that_is_not_utf8_is_skipped_alone(tmp_path):
    body = (HEADER + "2024-05-01T09:00+09:00,kim,on\n").encode()
    body += b"2024-05-01T09:01+09:00,k\xff\xfem,off\n"
    body += b"2024-05-01T09:02+09:00,kim,off\n"
    log = read_log(write(tmp_path, body, mode="wb"), NOW)
    assert [(p.line, p.reason) for p in log.problems] == [(3, MALFORMED)]
    assert "not UTF-8" in log.problems[0].message
    assert len(log.events) == 2


def test_non_ascii_household_names_are_fine(tmp_path):
    log = read_log(write(tmp_path, HEADER + "2024-05-01T09:00+09:00,김씨댁,on\n"), NOW)
    assert log.events[0].household == "김씨댁" and log.problems == []


def test_mixed_offsets_are_reported_and_the_first_is_the_households_tz(tmp_path):
    body = HEADER + "2024-03-30T12:00+01:00,ams,on\n2024-03-31T12:00+02:00,ams,off\n"
    log = read_log(write(tmp_path, body), NOW)
    assert log.offsets["ams"] == timezone(timedelta(hours=1))
    assert log.mixed_offsets == {"ams": [timedelta(hours=1), timedelta(hours=2)]}


def test_header_only_is_an_empty_log_not_an_error(tmp_path):
    log = read_log(write(tmp_path, HEADER), NOW)
    assert log.events == [] and log.problems == [] and log.offsets == {}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "is empty"),
        (b"\n\n  \n", "is empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 8, "not a text CSV"),
        (b"\x89PNG\r\n\x1a\n" + b"\xff\xd8" * 100, "not a text CSV"),
        (b"2024-05-01T09:00+09:00,kim,on\n", "no header"),
        (b"time,household\n2024-05-01T09:00+09:00,kim\n", "no header"),
        (b"time,household,event,room\n", "no header"),
        (b"\ntime,household,event\n", "no header"),
    ],
)
def test_broken_files_raise_one_clear_error_naming_the_file(tmp_path, content, words):
    path = write(tmp_path, content, mode="wb")
    with pytest.raises(LogBroken) as caught:
        read_log(path, NOW)
    assert words in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(LogBroken, match="no such file"):
        read_log(tmp_path / "nope.csv", NOW)
    with pytest.raises(LogBroken, match="is a directory"):
        read_log(tmp_path, NOW)


def test_unreadable_file(tmp_path):
    if os.geteuid() != 0:
        path = write(tmp_path, HEADER)
        path.chmod(0)
    else:  # root may open any file; this one opens but fails on read, like a bad disk
        path = "/proc/self/mem"
    with pytest.raises(LogBroken, match="cannot be read"):
        read_log(path, NOW)


def test_utf8_split_at_the_sniff_boundary_is_not_binary(tmp_path):
    # The reader sniffs the first 8192 bytes; make a 3-byte character straddle that edge.
    prefix = HEADER + "2024-05-01T10:00+09:00,x"
    assert (8192 - len(prefix.encode())) % 3 != 0
    body = prefix + "가" * 3000 + ",on\n2024-05-01T10:01+09:00,kim,on\n"
    log = read_log(write(tmp_path, body), NOW)
    assert log.problems == [] and len(log.events) == 2


# Property: however rows are mangled, every data row is either an event or a named problem,
# and the events of each household come out in non-decreasing time.
_row = st.one_of(
    st.tuples(
        st.one_of(  # mostly a few busy days, sometimes anywhere the calendar allows
            st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 1, 3)),
            st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        ),
        st.sampled_from(["+09:00", "+01:00", "Z", ""]),
        st.sampled_from(["kim", "lee"]),
        st.sampled_from(["on", "off", "activity", "bogus"]),
    ).map(lambda r: f"{r[0].isoformat(timespec='seconds')}{r[1]},{r[2]},{r[3]}"),
    st.sampled_from(["garbage", "a,b", "a,b,c,d", '"unclosed,x,y', "2024-01-01T00:00Z,,on"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, max_size=40))
def test_every_row_is_an_event_or_a_problem(tmp_path, rows):
    path = write(tmp_path, HEADER + "\n".join(rows) + "\n", name="prop.csv")
    reader = LogReader(path, NOW)
    events = list(reader)
    assert len(events) + len(reader.problems) == len(rows)
    assert all(p.reason in PROBLEM_REASONS for p in reader.problems)
    assert len({p.line for p in reader.problems}) == len(reader.problems)
    for household in {e.household for e in events}:
        times = [e.time for e in events if e.household == household]
        assert times == sorted(times)
    keys = [(e.household, e.time, e.kind) for e in events]
    assert len(keys) == len(set(keys))
