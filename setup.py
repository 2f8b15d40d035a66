"""Build hook: a wheel carries the shipped catalog (configs/ and scenarios/) as
sim/_shipped/, so a non-editable install finds it (sim.catalog.roots). Everything else
about the package is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithCatalog(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "sim" / "_shipped"
        for name in ("configs", "scenarios"):
            shutil.copytree(ROOT / name, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithCatalog})
