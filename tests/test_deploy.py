"""Deploying and sharing one server (docs/deploy.md): requirements.txt gives every platform exactly one
torch, the CPU build from PyTorch's wheel index by URL where PyPI's would be the CUDA one, with no
index line; the cores this process may use (affinity, cgroup quota) set the threads and the training
cap, with environment overrides; and nothing one viewer does reaches another viewer's session."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch
from conftest import app_test
from packaging.requirements import Requirement
from test_widget_limits import TEXT, labels_itself, open_page, widgets

from course import runs
from lessons.ui import DATASET_NAME_KEY, DATASET_TEXT_KEY, LESSONS, UPLOAD_TEXT, checkpoint_choices
from tinygpt import device

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu/"
CLOUD_PYTHONS = ("3.12", "3.13", "3.14")  # Linux x86-64 Pythons that get the CPU wheel by URL


def requirement_lines(name: str = "requirements.txt") -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def torch_for(python: str, platform: str = "linux", machine: str = "x86_64") -> list[Requirement]:
    """The torch requirements that apply on that platform (pip and uv evaluate the same markers)."""
    env = {"python_version": python, "sys_platform": platform, "platform_machine": machine}
    found = [Requirement(line) for line in requirement_lines()]
    return [r for r in found if r.name == "torch" and (r.marker is None or r.marker.evaluate(env))]


def pinned_version() -> str:
    [pin] = torch_for("3.11")
    [spec] = pin.specifier
    assert spec.operator == "==", pin
    return spec.version


# ---- requirements.txt -----------------------------------------------------------------------------


def test_requirements_have_no_index_or_option_lines():
    """uv stops at an index it cannot reach, and takes each package from the first index that has
    it (docs/deploy.md): requirements.txt names no index, and pip options stay out of it."""
    for name in ("requirements.txt", "requirements-dev.txt"):
        options = [line for line in requirement_lines(name) if line.startswith("-")]
        assert options == [], f"{name}: {options}"
    assert CPU_INDEX in (ROOT / "requirements.txt").read_text()


@pytest.mark.parametrize(
    ("python", "platform", "machine"),
    [
        *[(v, "linux", "x86_64") for v in ("3.11", "3.12", "3.13", "3.14", "3.15")],
        ("3.12", "darwin", "arm64"),
        ("3.12", "win32", "AMD64"),
        ("3.12", "linux", "aarch64"),
    ],
)
def test_every_platform_gets_exactly_one_torch_of_the_pinned_release(python, platform, machine):
    [req] = torch_for(python, platform, machine)
    if req.url:
        assert re.search(rf"/torch-{re.escape(pinned_version())}%2Bcpu-", req.url), req.url
    else:
        assert str(req.specifier) == f"=={pinned_version()}"


@pytest.mark.parametrize("python", CLOUD_PYTHONS)
def test_cloud_pythons_get_the_cpu_wheel_by_url_with_its_digest(python):
    """Community Cloud (Linux x86-64, 3.12 by default): the +cpu wheel for that very Python, from the
    CPU index, with a sha256 that pip and uv check before installing it."""
    [req] = torch_for(python)
    tag = "cp" + python.replace(".", "")
    version = pinned_version()
    assert req.url.startswith(CPU_INDEX), req.url
    wheel, _, digest = req.url.removeprefix(CPU_INDEX).partition("#sha256=")
    assert wheel == f"torch-{version}%2Bcpu-{tag}-{tag}-manylinux_2_28_x86_64.whl"
    assert re.fullmatch("[0-9a-f]{64}", digest), req.url


def test_python_311_on_linux_keeps_the_plain_pin_that_these_machines_install():
    """These machines run 3.11 and cannot reach the CPU index: a URL line there would break every
    install here, CI included. pip finds the same +cpu wheel locally; the pin is what runs here."""
    [req] = torch_for("3.11")
    assert req.url is None
    assert torch.__version__.split("+")[0] == pinned_version()


# ---- cores, threads and the training cap -------------------------------------------------------


def cgroup(tmp_path: Path, v2: str | None = None, v1: tuple[str, str] | None = None) -> Path:
    """A fake /sys/fs/cgroup: cgroup v2's cpu.max, or v1's cfs quota and period."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(v1[0] + "\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(v1[1] + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("v2", "v1", "quota"),
    [
        ("200000 100000", None, 2.0),
        ("150000 100000", None, 1.5),
        ("max 100000", None, None),
        (None, ("50000", "100000"), 0.5),
        (None, ("-1", "100000"), None),
        (None, None, None),
        ("garbage", None, None),
    ],
)
def test_the_cgroup_cpu_quota_is_read_from_v2_or_v1(tmp_path, v2, v1, quota):
    assert device.cgroup_cpu_quota(cgroup(tmp_path, v2, v1)) == quota


def test_available_cores_is_the_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    """A container on a 16-core host with a 2-core quota (like Community Cloud) trains on 2 threads,
    not on the 16 that os.cpu_count() reports."""
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(device.os, "cpu_count", lambda: 16)
    assert device.available_cores(cgroup(tmp_path / "a", "200000 100000")) == 2
    assert device.available_cores(cgroup(tmp_path / "b", "150000 100000")) == 1  # a thread beyond 1.5 waits
    assert device.available_cores(cgroup(tmp_path / "c", "50000 100000")) == 1  # at least one
    assert device.available_cores(cgroup(tmp_path / "d", "max 100000")) == 16
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert device.available_cores(cgroup(tmp_path / "e", "400000 100000")) == 3


def test_the_real_machine_reports_its_share():
    cores = device.available_cores()
    assert 1 <= cores <= (device.os.cpu_count() or 1)


def test_available_memory_is_the_containers_limit_or_the_machines(tmp_path):
    machine = device.available_memory_mb(tmp_path / "none")  # no cgroup files: the machine's memory
    assert machine and machine > 256
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "memory.max").write_text(f"{2**30}\n")
    assert device.available_memory_mb(tmp_path / "v2") == min(1024, machine)
    (tmp_path / "v2" / "memory.max").write_text("max\n")
    assert device.available_memory_mb(tmp_path / "v2") == machine
    (tmp_path / "v1" / "memory").mkdir(parents=True)
    (tmp_path / "v1" / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # no limit
    assert device.available_memory_mb(tmp_path / "v1") == machine


def test_runs_share_the_training_cores(monkeypatch):
    monkeypatch.delenv("TINYGPT_THREADS", raising=False)
    assert [device.training_threads(2, runs) for runs in (1, 2, 3)] == [2, 1, 1]
    assert [device.training_threads(8, runs) for runs in (1, 2, 3, 4)] == [7, 3, 2, 1]
    assert device.training_threads(1, 2) == 1
    monkeypatch.setenv("TINYGPT_THREADS", "3")
    assert device.training_threads(2, 2) == 3  # the deployer's word wins


def test_a_bad_override_falls_back_to_the_default_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("TINYGPT_THREADS", "two")
    with caplog.at_level(logging.WARNING, logger="tinygpt.device"):
        assert device.training_threads(2, 1) == 2
    assert "TINYGPT_THREADS" in caplog.text
    monkeypatch.setenv("TINYGPT_MAX_RUNS", "0")
    assert runs.configured_max_runs() == runs.default_max_runs()


# ---- one server, many viewers -------------------------------------------------------------------

MARK = "ZEBRA-viewer-A-was-here"  # appears nowhere in the app or the text


def session_values(path: str, at=None) -> dict:
    """The widget values a viewer sees on `path` (a fresh session unless `at` is given)."""
    at = open_page(path) if at is None else at.switch_page(path).run()
    assert not at.exception, at.exception[0].message
    return {key: w.value for key, (_, w) in widgets(at).items()}


def everything_shown(at) -> str:
    """Every element's content on the page, as text."""

    def walk(node):
        yield str(getattr(node, "proto", ""))
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return "\n".join(walk(at._tree))


def another_choice(w):
    """A value of the choice `w` other than its current one: one of its labels that is its own value,
    or a checkpoint (the pickers' values are paths, shown by label); None when there is no other."""
    values = [o for o in w.options if labels_itself(w, o)] + [str(p) for p, _ in checkpoint_choices()]
    return next((v for v in values if v != w.value and shown_as(w, v) in w.options), None)


def shown_as(w, value) -> str | None:
    try:
        return str(w.format_func(value))
    except Exception:  # noqa: BLE001 - a format_func made for other values
        return None


def test_nothing_one_viewer_types_or_chooses_reaches_another_viewer():
    """Viewer A, on every lesson, types into every text box and picks another option of every choice
    (another checkpoint included), then uploads a text and visits every lesson with it; viewer B, on
    the same server process (same caches), then sees every lesson as a viewer who came before A."""
    paths = [lesson.path for lesson in LESSONS]
    before = {path: session_values(path) for path in paths}

    a = app_test("app.py")
    a.run()
    chosen = []
    for path in paths:
        a.switch_page(path).run()
        for kind, w in widgets(a).values():
            if kind in TEXT:
                w.set_value(MARK)
            elif kind in ("selectbox", "radio") and (other := another_choice(w)) is not None:
                w.set_value(other)
                chosen.append(f"{path}: {w.key} = {other}")
        a.run()
        assert not a.exception, a.exception[0].message
        typed = [w.value for kind, w in widgets(a).values() if kind in TEXT]
        assert all(value == MARK for value in typed), f"{path}: viewer A's typing did not take"
    a.session_state[DATASET_NAME_KEY] = f"{MARK}.txt"  # what lesson 1 keeps of an upload
    a.session_state["dataset_source"] = UPLOAD_TEXT  # an upload is made with this choice
    a.session_state[DATASET_TEXT_KEY] = f"{MARK}\n" * 500
    for path in paths:  # then A visits every lesson with that text
        a.switch_page(path).run()
        assert not a.exception, a.exception[0].message
    assert MARK in everything_shown(a.switch_page(LESSONS[1].path).run())

    assert any("generate_checkpoint" in c for c in chosen), chosen  # A chose another checkpoint
    for path in reversed(paths):  # the later lessons first: lesson 1 would set B's own text
        b = open_page(path)
        assert MARK not in everything_shown(b), f"{path} shows viewer A's text to viewer B"
        assert session_values(path, b) == before[path], f"{path}: viewer B's widgets moved"


def test_a_viewer_who_opens_another_viewers_run_link_can_watch_but_not_stop_it(runs_dir):
    a = open_page("lessons/4_training.py")
    a.number_input(key="train_max_seconds").set_value(30.0).run()
    a.button(key="train_start").click().run()
    run_id = runs.shared_registry().runs()[0].id
    try:
        assert any(b.key == "train_stop" for b in a.button)
        b = open_page("lessons/4_training.py")
        b.query_params["run"] = run_id  # B opens the link A shared
        b.run()
        assert not b.exception
        assert runs.shared_registry().get(run_id).name in everything_shown(b)  # B sees the run
        assert not any(button.key == "train_stop" for button in b.button), "viewer B may stop A's run"
        assert "Watching" in everything_shown(b)
    finally:
        runs.shared_registry().stop_all()


def test_free_memory_counts_what_the_containers_limit_leaves(tmp_path):
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "memory.max").write_text(f"{2 * 2**30}\n")
    (tmp_path / "v2" / "memory.current").write_text(f"{2**30 + 2**29}\n")  # 1.5 GiB of 2 used
    assert device.free_memory("cpu", tmp_path / "v2") == 2**29  # less than the host's MemAvailable
    (tmp_path / "v2" / "memory.max").write_text("max\n")
    host = device.free_memory("cpu", tmp_path / "v2")
    assert host and host > 2**28  # no limit: what the machine has available
