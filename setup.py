"""Only what pyproject.toml cannot say: the package list is the namespace-aware find (as
pyproject's `packages.find` does) plus the model registry, which lives in models/ and is mapped
into the wheel as `sdsat_lsp._models` (pyproject.toml, [tool.setuptools.package-dir])."""

from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages(include=["sdsat_lsp*"]), "sdsat_lsp._models"])
