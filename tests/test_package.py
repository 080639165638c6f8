"""The project installs (pyproject.toml): its dependencies agree with requirements.txt (what Community
Cloud installs) and requirements-dev.txt, the `tinygpt` command exists, the packages it lists are
packages, nothing edits the import path to find them, and .ci/run runs the README's test command."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tinygpt import cli

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(name: str) -> list[Requirement]:
    lines = (ROOT / name).read_text().splitlines()
    return [Requirement(line) for line in map(str.strip, lines) if line and not line.startswith("#")]


def pinned_version(req: Requirement) -> str:
    [spec] = req.specifier
    assert spec.operator == "==", req
    return spec.version


def test_dependencies_match_the_requirements_files():
    declared = {r.name: r for r in map(Requirement, PROJECT["project"]["dependencies"])}
    pinned = requirements("requirements.txt")
    assert set(declared) == {r.name for r in pinned}
    for req in pinned:
        if req.name == "torch":  # requirements.txt pins the build; pyproject only bounds it
            version = re.search(r"torch-([\d.]+)", req.url).group(1) if req.url else pinned_version(req)
            assert declared["torch"].specifier.contains(version), (req, declared["torch"])
        else:
            assert req.specifier == declared[req.name].specifier, req.name
    dev = {r.name: r.specifier for r in map(Requirement, PROJECT["project"]["optional-dependencies"]["dev"])}
    assert dev == {r.name: r.specifier for r in requirements("requirements-dev.txt")}


def test_the_command_and_the_packages_exist():
    assert PROJECT["project"]["scripts"] == {"tinygpt": "tinygpt.cli:main"} and callable(cli.main)
    for package in PROJECT["tool"]["setuptools"]["packages"]:
        assert (ROOT / package.replace(".", "/") / "__init__.py").is_file(), package


def test_nothing_edits_the_import_path():
    edit = re.compile(r"\bsys\.path\b")
    found = [
        str(path.relative_to(ROOT))
        for folder in ("bench", "tests", "course", "lessons", "tinygpt")
        for path in (ROOT / folder).rglob("*.py")
        if edit.search(path.read_text())
    ]
    assert found == []


def test_ci_runs_the_readmes_test_command_in_its_own_folder():
    readme = (ROOT / "README.md").read_text()
    [command] = [line for line in readme.splitlines() if line.endswith("-m pytest") and "venv" in line]
    assert "-e ." in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert command.replace(".venv", ".venv-ci") in ci.splitlines()
    assert "rm -rf .venv\n" not in ci and "apt-get install" in ci


def test_the_library_imports_nothing_of_the_course():
    """tinygpt/ lifts out alone: importing every module of it loads no course module (only building
    the command line adds the course's `ladder` command, when the course is there)."""
    modules = [f"tinygpt.{p.stem}" for p in (ROOT / "tinygpt").glob("*.py") if p.stem != "__main__"]
    code = f"import sys; import {', '.join(modules)}; print([m for m in sys.modules if m.split('.')[0] in ('course', 'lessons', 'streamlit')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
