"""`sdsat-lsp doctor`: check an installation and say, per finding, what to do about it.

Each check returns a `Check`: ok, fail (with the fix) or info (nothing wrong, worth knowing).
The checks run in order, each on its own; one failing never hides the others, and the test
completion only runs when the model it needs looks whole. Nothing here prints or deletes:
`sdsat_lsp/commands/doctor.py` prints, the editors show the `--json` form (`:checkhealth sdsat`,
VS Code's *sdsat: Show Status*).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sdsat_lsp.config import Settings

Status = Literal["ok", "fail", "info"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    summary: str
    fix: str = ""  # what to do when it fails, or why an info line matters
    details: dict[str, Any] = field(default_factory=dict)


def run_checks(
    settings: Settings,
    problems: list[str] | None = None,
    *,
    completion: bool = True,
    on_check: Callable[[Check], None] = lambda check: None,
) -> list[Check]:
    """Every check for `settings` (`problems`: what parsing the settings reported)."""
    from sdsat_lsp.doctor import environment, models

    checks: list[Check] = []

    def add(check: Check) -> Check:
        checks.append(check)
        on_check(check)
        return check

    add(environment.python_check())
    add(environment.package_check())
    add(environment.settings_check(settings, problems or []))
    torch_ok = add(environment.torch_check()).status == "ok"
    if torch_ok:
        add(environment.cuda_check())
        add(environment.device_check(settings))
    for check in models.file_checks(settings):
        add(check)
    if torch_ok and settings.backend == "local":
        weight_format = models.weight_format_check(settings)
        if weight_format is not None:
            add(weight_format)
    add(environment.grammars_check())
    add(environment.cache_check())
    if settings.backend != "local":  # a remote engine generates: check it, not local weights
        from sdsat_lsp.doctor.remote import engine_checks

        for check in engine_checks(settings, completion):
            add(check)
        return checks
    if not completion:
        return checks
    failed = {check.name for check in checks if check.status == "fail"}
    model = models.model_check_name(settings.model)
    blockers = failed & {"torch", "device", "registry", "adapter", model}
    for check in models.completion_checks(settings, sorted(blockers) if torch_ok else ["torch"]):
        add(check)
    return checks
