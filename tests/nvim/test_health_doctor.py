""":checkhealth sdsat shows the `sdsat-lsp doctor` report for the plugin's settings: the real
server command and a tiny real model, each doctor check as a health line."""

from __future__ import annotations

from pathlib import Path

from nvim_harness import Editor


def health_report(editor: Editor) -> str:
    editor.nvim.command("checkhealth sdsat")
    report = "\n".join(editor.lines())
    editor.nvim.command("bwipeout")
    return report


def test_checkhealth_shows_the_doctor_report(
    editor: Editor, server_command: list[str], tiny_model: Path
) -> None:
    editor.setup({"cmd": server_command, "settings": {"model": str(tiny_model), "device": "cpu"}})
    report = health_report(editor)
    doctor = report[report.index("sdsat: doctor") :]
    assert f"{server_command[0]} doctor --json`" in doctor
    assert "OK python: Python 3." in doctor and "OK torch: torch " in doctor
    assert f"OK model {tiny_model}: files whole" in doctor
    assert "OK grammars: 9 tree-sitter grammars load" in doctor
    assert "OK completion: 16 tokens in " in doctor and "tokens/s" in doctor
    assert editor.errors() == []


def test_checkhealth_shows_a_failing_check_with_its_fix(
    editor: Editor, server_command: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    editor.setup({"cmd": server_command, "settings": {"model": str(missing)}})
    report = health_report(editor)
    doctor = report[report.index("sdsat: doctor") :]
    assert f"ERROR model {missing}: {missing} is neither a registry name nor a folder" in doctor
    assert "set `model` to a registry name" in doctor, "the fix is shown as advice"
    assert "completion: test completion not run" in doctor
    assert editor.errors() == []
