"""The output file: appended whole lines, a cut last line repaired, one writer at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters.batch.files import OutputBusy, ResultFile, input_lines
from gateway.application.batch_results import response_line


def test_a_new_file_is_created_and_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path) as results:
        assert results.scan.done == set()
        results.write(response_line("a", 200, "1", b"{}"))
    with ResultFile(path) as results:
        results.write(response_line("b", 200, "2", b"{}"))

    assert ResultFile(path).open().done == {"a", "b"}


def test_a_truncated_last_line_is_cut_off_and_the_request_runs_again(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = response_line("a", 200, "1", b"{}")
    path.write_bytes(whole + response_line("b", 200, "2", b"{}")[:20])

    results = ResultFile(path)
    scan = results.open()
    results.write(response_line("b", 200, "3", b"{}"))
    results.close()

    assert scan.truncated_tail and scan.done == {"a"}
    assert path.read_bytes() == whole + response_line("b", 200, "3", b"{}")


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path), pytest.raises(OutputBusy):
        ResultFile(path).open()


def test_input_lines_are_read_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}')

    assert list(input_lines(path)) == [b'{"a":1}\n', b'{"b":2}']
