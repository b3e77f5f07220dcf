"""The held-out code the quality benchmark cuts completion points from.

Each set is one package's own sources at a pinned version, from a registry the project does
not otherwise install from (never the standard library nor the venv's site-packages, which the
shipped SAT adapter was trained on). `fetch` (run by `make quality-data`, never by the
benchmark or the tests) downloads the archives with pip and npm and unpacks the sources with
the package's licence into `~/.cache/sdsat-lsp/quality/<set>` (`$SDSAT_LSP_CACHE` moves it).

    python -m sdsat_lsp.bench.quality.sets fetch    # what `make quality-data` runs
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sdsat_lsp.model.paths import cache_dir


class QualityDataMissing(RuntimeError):
    """A set is not in the cache; the message names `make quality-data`."""


@dataclass(frozen=True)
class CodeSet:
    name: str  # also the cache folder
    language: str  # LSP language id
    registry: str  # pypi | npm
    package: str
    version: str
    licence: str  # SPDX id
    sources: tuple[str, ...]  # globs inside the archive's top folder
    licence_file: str

    @property
    def spec(self) -> str:
        return (
            f"{self.package}=={self.version}"
            if self.registry == "pypi"
            else (f"{self.package}@{self.version}")
        )


SETS: tuple[CodeSet, ...] = (
    CodeSet(
        "marshmallow", "python", "pypi", "marshmallow", "4.4.0", "MIT",
        ("src/marshmallow/*.py", "src/marshmallow/*/*.py"), "LICENSE",
    ),
    CodeSet(
        "tomlkit", "python", "pypi", "tomlkit", "0.13.3", "MIT",
        ("tomlkit/*.py",), "LICENSE",
    ),
    CodeSet(
        "express", "javascript", "npm", "express", "4.21.2", "MIT",
        ("index.js", "lib/*.js", "lib/*/*.js"), "LICENSE",
    ),
    CodeSet(
        "rxjs", "typescript", "npm", "rxjs", "7.8.2", "Apache-2.0",
        ("src/internal/*.ts", "src/internal/*/*.ts"), "LICENSE.txt",
    ),
)  # fmt: skip
LANGUAGES = ("python", "javascript", "typescript")


def data_root() -> Path:
    return cache_dir() / "quality"


def set_dir(code_set: CodeSet) -> Path:
    return data_root() / code_set.name


def source_files(code_set: CodeSet) -> list[Path]:
    """The set's source files, sorted; raises QualityDataMissing when it was not fetched."""
    root = set_dir(code_set)
    if not (root / "STAMP").is_file():
        raise QualityDataMissing(
            f"{code_set.spec} is not in {root}: run `make quality-data` (downloads it once)"
        )
    return sorted(
        path
        for path in (root / "src").rglob("*")
        if path.is_file() and not path.name.endswith(".d.ts")
    )


# -- fetching (install time only) ---------------------------------------------------------------


def _download(code_set: CodeSet, into: Path) -> Path:
    if code_set.registry == "pypi":
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-binary", ":all:", code_set.spec, "-d", str(into),
        ]  # fmt: skip
    else:
        command = ["npm", "pack", "--silent", code_set.spec, "--pack-destination", str(into)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    archives = sorted(into.glob("*.tar.gz")) + sorted(into.glob("*.tgz"))
    if not archives:
        raise RuntimeError(f"{' '.join(command)} left no archive in {into}")
    return archives[0]


def _matches(relative: str, code_set: CodeSet) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in code_set.sources)


def fetch(code_set: CodeSet) -> Path:
    """Download and unpack one set (skipped when its stamp says this version is there)."""
    root = set_dir(code_set)
    stamp = root / "STAMP"
    if stamp.is_file() and stamp.read_text().strip() == code_set.spec:
        return root
    with tempfile.TemporaryDirectory() as temporary:
        archive = _download(code_set, Path(temporary))
        shutil.rmtree(root, ignore_errors=True)
        (root / "src").mkdir(parents=True)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/", 1)
                if len(parts) < 2 or not member.isfile():
                    continue
                relative = parts[1]
                if relative == code_set.licence_file:
                    target = root / "LICENSE"
                elif _matches(relative, code_set):
                    target = root / "src" / relative
                else:
                    continue
                if ".." in Path(relative).parts:
                    continue  # never write outside the set's folder
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with extracted, target.open("wb") as out:
                    shutil.copyfileobj(extracted, out)
    if not (root / "LICENSE").is_file():
        raise RuntimeError(f"{code_set.spec}: no {code_set.licence_file} in the archive")
    stamp.write_text(code_set.spec + "\n")
    return root


def main(argv: list[str]) -> int:
    if argv != ["fetch"]:
        print(__doc__, file=sys.stderr)
        return 2
    for code_set in SETS:
        root = fetch(code_set)
        count = len(source_files(code_set))
        print(f"{code_set.spec} ({code_set.licence}): {count} files in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
