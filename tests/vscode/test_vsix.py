"""The packaged VS Code extension (`make vscode-build`, part of `make test`): one bundled
JavaScript file with the manifest, marketplace README, license and icon, and nothing else."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

VSCODE = Path(__file__).resolve().parents[2] / "editor" / "vscode"
VSIX = VSCODE / "out" / "sdsat-lsp.vsix"
CONTENTS = {
    "extension.vsixmanifest",
    "[Content_Types].xml",
    "extension/package.json",
    "extension/readme.md",
    "extension/LICENSE.txt",
    "extension/images/icon.png",
    "extension/dist/extension.js",
}


@pytest.fixture(scope="module")
def vsix() -> zipfile.ZipFile:
    if not VSIX.exists():
        pytest.skip("no .vsix: run `make vscode-build`")
    return zipfile.ZipFile(VSIX)


def test_the_vsix_is_the_bundle_and_small(vsix: zipfile.ZipFile) -> None:
    assert set(vsix.namelist()) == CONTENTS
    assert VSIX.stat().st_size < 300_000
    bundle = vsix.read("extension/dist/extension.js").decode()
    assert 'require("vscode")' in bundle, "vscode stays external"
    assert "textDocument/inlineCompletion" in bundle, "vscode-languageclient is in the bundle"


def test_the_manifest_has_what_the_marketplace_shows(vsix: zipfile.ZipFile) -> None:
    manifest = json.loads(vsix.read("extension/package.json"))
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["license"] == "Apache-2.0"
    assert manifest["repository"]["url"].startswith("https://")
    assert manifest["icon"] == "images/icon.png"
    assert vsix.read("extension/images/icon.png").startswith(b"\x89PNG\r\n\x1a\n")
    assert "Apache License" in vsix.read("extension/LICENSE.txt").decode()
    readme = vsix.read("extension/readme.md").decode()
    assert "sdsat: Show Status" in readme and "sdsat-lsp fetch-model" in readme
    commands = {entry["command"] for entry in manifest["contributes"]["commands"]}
    assert "sdsat.showStatus" in commands
