"""kubectl vmop's output, without a cluster: the status summary of objects in odd states, the
progress bar on a pipe, ages, and the exit codes docs/operations.md promises."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

from vmop.plugin import cli, render

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_a_vm_with_no_status_yet_shows_none_rather_than_failing() -> None:
    fresh = {"metadata": {"name": "web-1", "namespace": "ns", "uid": "u"}, "spec": {"powerState": "Running"}}
    text = render.summary_text(render.summary(fresh, []), NOW)
    assert "Phase:            <none>" in text and "  UUID:           <none>" in text
    assert "Pending changes:  none" in text and "Last error:       none" in text
    assert text.endswith("Conditions:\n  <none>\nEvents:\n  <none>")


def test_the_summary_names_the_knobs_set_and_an_error_without_scode() -> None:
    vm = {
        "metadata": {
            "name": "web-1",
            "namespace": "ns",
            "deletionTimestamp": "2026-01-02T03:00:00Z",
            "annotations": {"vmop.io/paused": "true", "vmop.io/migration": "move-1"},
        },
        "spec": {"powerState": "Stopped"},
        "status": {"lastError": {"message": "platform unreachable", "operation": "/v1/compute/list"}},
    }
    text = render.summary_text(render.summary(vm, []), NOW)
    assert "Note:             paused (vmop.io/paused: no platform calls); being deleted" in text
    assert "Migration:        move-1 in progress" in text
    assert "  scode:          <none> (the platform did not answer)" in text


def test_the_newest_events_are_shown_with_their_age() -> None:
    events = [
        {"type": "Normal", "reason": f"R{i}", "message": "m", "lastTimestamp": f"2026-01-02T03:0{i}:00Z"}
        for i in range(4)
    ]
    events += [
        {"type": "Normal", "reason": f"S{i}", "note": "n", "eventTime": f"2026-01-02T03:04:0{i}Z"} for i in range(8)
    ]
    vm = {"metadata": {"name": "a", "namespace": "ns"}, "spec": {}}
    shown = render.summary(vm, events)["events"]
    assert [e["reason"] for e in shown] == ["R2", "R3", *(f"S{i}" for i in range(8))]
    assert render.age(shown[0]["time"], NOW) == "2m" and render.age(shown[-1]["time"], NOW) == "0s"
    assert render.age("2025-12-30T03:04:05Z", NOW) == "3d" and render.age(None, NOW) == "<unknown>"


def test_on_a_pipe_the_progress_bar_prints_one_line_per_change() -> None:
    out = io.StringIO()
    bar = render.ProgressBar(out)
    for phase, percent in (("Pending", 0), ("Running", 0), ("Running", 0), ("Running", 40), ("Succeeded", 100)):
        bar.show(phase, percent, "")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in out.getvalue()
    assert lines[2].startswith("[############------------------]  40%  Running")


def test_the_documented_exit_codes_are_the_ones_used() -> None:
    text = (DOCS / "operations.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| ([^|]+?) \|", text[text.index("### Exit codes") :], re.M))
    codes = {"OK": cli.OK, "FAILED": cli.FAILED, "USAGE": cli.USAGE, "NOT_FOUND": cli.NOT_FOUND}
    codes |= {"TIMEOUT": cli.TIMEOUT, "API_ERROR": cli.API_ERROR}
    assert sorted(int(code) for code in table) == sorted(codes.values()), table


def test_global_flags_go_before_or_after_the_command() -> None:
    parsed = []
    for argv in (["-n", "ns", "-o", "json", "status", "a"], ["status", "a", "--namespace=ns", "-ojson"]):
        flags, rest = cli._global_parser().parse_known_args(argv)
        args = cli.build_parser().parse_args(rest)
        parsed.append((flags.namespace, flags.output, args.command, args.name))
    assert parsed == [("ns", "json", "status", "a")] * 2
