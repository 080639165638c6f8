"""Rehearse a Streamlit Community Cloud deploy on loopback and measure it (docs/deploy.md).

What Cloud does, in order: a fresh virtual environment installed with `uv pip install -r
requirements.txt` (uv from PyPI, cold cache), `streamlit run app.py` headless, then viewers. Here:
the health endpoint, every lesson in headless Chromium, one training run alone, then 10 browser
sessions clicking through the lessons while two training runs and two generations go on. Prints one
JSON line per phase and a summary with the goals: no exception anywhere, the server's peak RSS < 1 GB
(the training runs' worker processes are reported beside it), p95 page rerun < 1 s of server time (bench/timed_streamlit.py times each script run on the server;
the time a browser here saw, drawing included, is reported beside it).

    python bench/rehearsal.py                      # full rehearsal (a few minutes)
    python bench/rehearsal.py --venv /tmp/app-venv # reuse an installed venv, skip the install

Run it with the project's dev environment (it drives Chromium with Playwright); the server runs from
the fresh venv. Where PyTorch's CPU index cannot be reached and the Python has no URL line in
requirements.txt (3.11), `--find-links` (default /opt/wheels when it holds torch) lets uv take the
same +cpu wheel from disk: without it uv would fetch PyPI's CUDA build. On a machine that reaches
the index, `--python python3.12 --find-links ''` installs exactly what Cloud installs. On Cloud the
browsers run on the viewers' machines; here they share the server's 2 cores, so they run at nice 19
(`--browser-nice`) and take only the CPU the server leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from lessons.ui import LESSONS
from tinygpt.checkpoint import list_checkpoints

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
TRAINING = "lessons/4_training.py"
GENERATE = "lessons/6_generate.py"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
RUNNING = "[data-testid=stApp][data-test-script-state=running]"
GOALS = {"peak_rss_mb": 1024, "rerun_p95_s": 1.0}


def emit(phase: str, **figures) -> dict:
    print(json.dumps({"phase": phase, **figures}), flush=True)
    return figures


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def size_mb(path: Path) -> int:
    return int(sh(["du", "-sm", str(path)]).stdout.split()[0])


# ---- install ------------------------------------------------------------------------------------


def install(work: Path, python: str, find_links: str) -> Path:
    """uv from PyPI into its own venv, then the app's venv as Cloud makes it; returns its python."""
    tools, app, cache = work / "tools", work / "app", work / "uv-cache"
    sh([python, "-m", "venv", str(tools)], check=True)
    t0 = time.perf_counter()
    sh([str(tools / "bin/pip"), "install", "-q", "uv"], check=True)
    uv = str(tools / "bin/uv")
    version = sh([uv, "--version"]).stdout.strip()
    emit("uv", version=version, install_s=round(time.perf_counter() - t0, 1))
    env = {**os.environ, "UV_CACHE_DIR": str(cache)}  # a cold cache, as on a fresh Cloud container
    links = ["--find-links", find_links] if find_links else []
    req = str(ROOT / "requirements.txt")
    sh([uv, "venv", "-q", "--python", python, str(app)], env=env, check=True)
    py = str(app / "bin/python")
    t0 = time.perf_counter()
    done = sh([uv, "pip", "install", "--python", py, "-r", req, *links], env=env)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"uv pip install failed:\n{done.stderr[-3000:]}")
    sh([uv, "venv", "-q", "--python", python, str(work / "empty")], env=env, check=True)
    dry = sh(
        [uv, "pip", "install", "--dry-run", "--python", str(work / "empty/bin/python"), "-r", req], env=env
    )
    pypi_gpu = sorted(set(re.findall(r"\+ (nvidia-[\w.-]+|triton)", dry.stderr)))  # without --find-links
    cloud = cloud_resolution(uv, req, env)
    torch_version = sh([py, "-c", "import torch; print(torch.__version__)"]).stdout.strip()
    listed = sh([uv, "pip", "list", "--python", py], env=env).stdout
    emit(
        "install",
        python=sh([py, "--version"]).stdout.strip(),
        seconds=round(seconds, 1),
        venv_mb=size_mb(app),
        wheels_mb=wheels_mb(tools / "bin/python", req, find_links, work / "wheels"),
        packages=len(listed.splitlines()) - 2,
        torch=torch_version,
        gpu_packages=sum(bool(re.match(r"(nvidia-|triton)", line)) for line in listed.splitlines()),
        torch_from=find_links or "requirements.txt",
        pypi_would_add_on_this_python=pypi_gpu,
        cloud_312=cloud,
    )
    return app / "bin/python"


def wheels_mb(pip_python: Path, req: str, find_links: str, folder: Path) -> int:
    """What the install downloads: the size of every wheel it takes (pip download, same resolution)."""
    links = ["--find-links", find_links] if find_links else []
    sh([str(pip_python), "-m", "pip", "download", "-q", "-d", str(folder), "-r", req, *links], check=True)
    return size_mb(folder)


def cloud_resolution(uv: str, req: str, env: dict) -> dict:
    """What uv resolves for Cloud (Linux x86-64, Python 3.12): needs PyTorch's CPU index."""
    out = sh(
        [uv, "pip", "compile", req, "--python-version", "3.12", "--python-platform", "x86_64-manylinux_2_28"],
        env=env,
        timeout=180,
    )
    if out.returncode:
        last = out.stderr.strip().splitlines()[-1:] or ["?"]
        return {"resolved": False, "why": last[0][:200]}
    pins = [line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith((" ", "#"))]
    torch_line = next((p for p in pins if p.startswith("torch")), "")
    gpu = [p for p in pins if p.startswith(("nvidia-", "triton"))]
    return {"resolved": True, "packages": len(pins), "torch": torch_line[:160], "gpu_packages": gpu}


def form_check(pip_python: str, uv: str | None, python: str, wheels: Path) -> None:
    """requirements.txt's URL-and-markers form, tried on this Python: its torch line rewritten to the
    local +cpu wheel of the same release for this Python version. pip and uv must both take it,
    and both must refuse it when the sha256 is wrong (pip in a dry run, uv in a real install)."""
    version = sh(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"]
    ).stdout.strip()
    tag = "cp" + version.replace(".", "")
    local = sorted(wheels.glob(f"torch-*+cpu-{tag}-{tag}-manylinux*_x86_64.whl"))
    if not local:
        emit("form", skipped=f"no local +cpu wheel for {tag} in {wheels}")
        return
    wheel = local[-1]
    digest = sh(["sha256sum", str(wheel)]).stdout.split()[0]
    url = "file://" + str(wheel).replace("+", "%2B")
    # requirements.txt's first URL line, pointed at the local wheel and this Python version
    line = next(x for x in (ROOT / "requirements.txt").read_text().splitlines() if x.startswith("torch @ "))
    line = re.sub(r'python_version == "[\d.]+"', f'python_version == "{version}"', line)
    other = f'torch==0.0.1 ; sys_platform != "linux" or platform_machine != "x86_64" or python_version != "{version}"'
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sha in (("right", digest), ("wrong", "0" * 64)):
            req = Path(tmp) / f"{name}.txt"
            req.write_text(re.sub(r"torch @ \S+", f"torch @ {url}#sha256={sha}", line) + "\n" + other + "\n")
            pip = sh([pip_python, "-m", "pip", "install", "--dry-run", "--no-deps", "-r", str(req)])
            results[f"pip_{name}_digest"] = pip.returncode == 0 and "+cpu" in pip.stdout
            if uv:  # uv checks digests only when it installs (not in --dry-run): a scratch venv
                scratch = Path(tmp) / f"venv-{name}"
                sh([uv, "venv", "-q", "--python", python, str(scratch)], check=True)
                out = sh(
                    [
                        uv,
                        "pip",
                        "install",
                        "--no-deps",
                        "--python",
                        str(scratch / "bin/python"),
                        "-r",
                        str(req),
                    ]
                )
                results[f"uv_{name}_digest"] = out.returncode == 0 and "+cpu" in out.stderr
    ok = results["pip_right_digest"] and not results["pip_wrong_digest"]
    ok = ok and (not uv or (results["uv_right_digest"] and not results["uv_wrong_digest"]))
    emit("form", wheel=wheel.name, takes_right_refuses_wrong=bool(ok), **results)


# ---- server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int, field: str) -> int:
    """A figure in kB from /proc/<pid>/status (0 once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else 0


def rss_kb(pid: int) -> int:
    return proc_status(pid, "VmRSS")


class Server:
    """`streamlit run app.py` headless from the app's venv, with its peak RSS sampled."""

    def __init__(self, python: Path, work: Path, data: str | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs_dir = work / "runs"
        self.log_path = work / "streamlit.log"
        env = {**os.environ, "TINYGPT_RUNS_DIR": str(self.runs_dir), "TINYGPT_CACHE": str(work / "cache")}
        for name in ("TINYGPT_THREADS", "TINYGPT_MAX_RUNS", "OMP_WAIT_POLICY"):  # the app's own defaults
            env.pop(name, None)
        if data:
            env["TINYGPT_DATA"] = data
        self.times_path = work / "script_times.jsonl"  # each script run's server time (timed_streamlit)
        env["TINYGPT_SCRIPT_TIMES"] = str(self.times_path)
        timed = str(ROOT / "bench" / "timed_streamlit.py")
        cmd = [str(python), timed, "run", "app.py", "--server.port", str(self.port)]
        cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
        cmd += ["--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
        self.started = time.perf_counter()
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.peak_rss_kb, self.peak_tree_kb, self._sampling = 0, 0, True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self._sampling and self.proc.poll() is None:
            self.peak_rss_kb = max(self.peak_rss_kb, self.status("VmRSS"))
            self.peak_tree_kb = max(self.peak_tree_kb, sum(rss_kb(pid) for pid in self.tree()))
            time.sleep(0.1)

    def tree(self) -> list[int]:
        """The server and every process it started (the training runs' workers), by pid."""
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += parents.get(pid, [])
        return found

    def status(self, field: str) -> int:
        return proc_status(self.proc.pid, field)

    def wait_healthy(self, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"streamlit exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=1).text == "ok":
                    return time.perf_counter() - self.started
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise SystemExit("streamlit did not become healthy")

    def peak_mb(self) -> float:
        return max(self.peak_rss_kb, self.status("VmHWM")) / 1024

    def peak_tree_mb(self) -> float:
        """The most memory the server and its workers held together (the sum of their RSS)."""
        return max(self.peak_tree_kb, self.peak_rss_kb) / 1024

    def tracebacks(self) -> list[str]:
        return re.findall(
            r"Traceback \(most recent call last\):[\s\S]*?\n(\w[^\n]*)", self.log_path.read_text()
        )

    def script_times(self, since: float, until: float) -> list[dict]:
        """The script runs that ended between two moments (epoch seconds), as timed on the server."""
        if not self.times_path.exists():
            return []
        runs = [json.loads(line) for line in self.times_path.read_text().splitlines()]
        return [r for r in runs if since <= r["ended"] <= until]

    def stop(self) -> None:
        self._sampling = False
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


# ---- browser sessions ---------------------------------------------------------------------------


class Problems(list):
    """Every exception box, console error and page error any session saw, with where."""

    def watch(self, page, who: str) -> None:
        page.on("console", lambda m: self.append(f"{who}: console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.append(f"{who}: page error: {e}"))

    async def check(self, page, who: str) -> None:
        boxes = page.locator("[data-testid=stException]")
        if await boxes.count():
            self.append(f"{who}: exception box: {(await boxes.first.inner_text())[:300]}")


async def idle(page, timeout: float = 120_000) -> None:
    """Wait for the script run a change started (if it was not over before we looked) to end."""
    try:
        await page.wait_for_selector(RUNNING, timeout=1_500)
    except Exception:  # noqa: BLE001 - a fast run is over before we look
        pass
    await page.wait_for_selector(IDLE, timeout=timeout)


async def open_session(browser, url: str, problems: Problems, who: str):
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(180_000)  # a loaded 2-core machine answers slowly: measured, not fatal
    page = await context.new_page()
    problems.watch(page, who)
    await page.goto(url)
    await page.wait_for_selector("h1", timeout=120_000)
    await idle(page)
    return page


async def go_to(page, title: str) -> float:
    """Follow the sidebar link to a lesson; seconds until its script run ended."""
    t0 = time.perf_counter()
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    await idle(page)
    return time.perf_counter() - t0


async def nudge_a_slider(page, rng: random.Random) -> float | None:
    """Move a visible slider one step (a rerun of the page); seconds until the rerun ended."""
    sliders = page.get_by_role("slider")
    visible = [i for i in range(await sliders.count()) if await sliders.nth(i).is_visible()]
    if not visible:
        return None
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    slider = sliders.nth(rng.choice(visible))
    try:
        await slider.focus(timeout=10_000)
        t0 = time.perf_counter()
        await slider.press(rng.choice(["ArrowRight", "ArrowLeft"]), timeout=10_000)
    except PlaywrightTimeout:  # a rerun replaced the slider before the key reached it: not the app's fault
        return None
    await idle(page)
    return time.perf_counter() - t0


async def start_training(page, seconds: int) -> str:
    """Start the training lesson's default race with a time budget; returns the run's id."""
    title = next(t for p, t, _ in LESSONS if p == TRAINING)
    await go_to(page, title)
    box = page.get_by_label("Seconds", exact=True)
    await box.fill(str(seconds))
    await box.press("Enter")
    await idle(page)
    await page.get_by_role("button", name="Start training").click()
    await page.wait_for_url(re.compile(r"run=\w+"), timeout=120_000)
    return re.search(r"run=(\w+)", page.url).group(1)


def run_figures(runs_dir: Path, run_id: str) -> dict | None:
    """Characters/s of an ended run, from its last checkpoint (steps x batch x block / seconds)."""
    for path, meta in list_checkpoints(runs_dir):
        s = meta["summary"]
        if (
            s.get("run_id") == run_id
            and s.get("status") in ("finished", "stopped")
            and path.stem.endswith("gpt")
        ):
            cfg = s["train_config"]
            block = cfg.get("block_size") or meta["config"]["block_size"]
            return {
                "steps": s["steps"],
                "seconds": round(s["elapsed_seconds"], 1),
                "chars_per_s": round(s["steps"] * cfg["batch_size"] * block / s["elapsed_seconds"]),
                "val_loss": round(s["val_loss"], 3),
            }
    return None


async def wait_for_run(runs_dir: Path, run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (found := run_figures(runs_dir, run_id)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} did not end within {timeout:.0f} s")
        await asyncio.sleep(0.5)
    return found


async def recorded(coro, problems: Problems, who: str) -> None:
    """Run a session to its end; a session that breaks (a timeout, a missing button) is a problem
    to report, and the others go on."""
    try:
        await coro
    except Exception as e:  # noqa: BLE001 - every failure is reported in the summary
        problems.append(f"{who}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")


async def generate_loop(page, stop: asyncio.Event, problems: Problems, who: str, count: list) -> None:
    """A learner generating text again and again, until `stop`."""
    title = next(t for p, t, _ in LESSONS if p == GENERATE)
    await go_to(page, title)
    while not stop.is_set():
        await page.get_by_role("button", name="Generate", exact=True).click()
        await idle(page)
        await problems.check(page, who)
        count.append(1)


async def click_through(
    page, stop: asyncio.Event, problems: Problems, who: str, seed: int, times: dict, think: float
) -> None:
    """A learner: open a lesson, move a slider or two, open another lesson, until `stop`; after
    each page or slider it reads for `think` seconds on average (0: none, a stress test)."""
    rng = random.Random(seed)
    titles = [t for _, t, _ in LESSONS]

    async def read() -> None:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)

    while not stop.is_set():
        times["navigate"].append(await go_to(page, rng.choice(titles)))
        await problems.check(page, who)
        await read()
        for _ in range(rng.randint(1, 3)):
            if (seconds := await nudge_a_slider(page, rng)) is not None:
                times["rerun"].append(seconds)
                await problems.check(page, who)
            await read()


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def browse(server: Server, args) -> dict:
    from playwright.async_api import async_playwright

    problems, done = Problems(), threading.Event()
    async with async_playwright() as pw:
        flags = [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ]
        chromium = niced(CHROMIUM, args.browser_nice, server.runs_dir.parent)
        if args.browser_nice:
            threading.Thread(target=keep_browsers_niced, args=(args.browser_nice, done), daemon=True).start()
        browser = await pw.chromium.launch(executable_path=chromium, args=[*flags, "--no-first-run"])
        t0 = time.perf_counter()
        first = await open_session(browser, server.url, problems, "first")
        emit(
            "first_page",
            seconds_after_health=round(time.perf_counter() - t0, 2),
            seconds_after_start=round(time.perf_counter() - server.started, 2),
            rss_mb=round(server.peak_mb()),
        )

        pages = {}
        for _, title, _ in [*LESSONS[1:], LESSONS[0]]:
            pages[title] = round(await go_to(first, title), 2)
            await problems.check(first, f"every page: {title}")
        emit("every_page", seconds=pages, problems=len(problems), rss_mb=round(server.peak_mb()))

        alone_id = await start_training(first, args.train_seconds)
        alone = await wait_for_run(server.runs_dir, alone_id, args.train_seconds * 4 + 120)
        emit(
            "training_alone",
            **alone,
            rss_mb=round(server.peak_mb()),
            with_workers_mb=round(server.peak_tree_mb()),
        )

        trainers = [
            await open_session(browser, server.url, problems, f"trainer{i}") for i in range(args.trainers)
        ]
        writers = [
            await open_session(browser, server.url, problems, f"writer{i}") for i in range(args.writers)
        ]
        learners = [
            await open_session(browser, server.url, problems, f"learner{i}") for i in range(args.sessions)
        ]
        stop, times, generated = asyncio.Event(), {"rerun": [], "navigate": []}, []
        load_began = time.time()
        run_ids = [await start_training(p, args.train_seconds) for p in trainers]
        sessions = [generate_loop(p, stop, problems, f"writer{i}", generated) for i, p in enumerate(writers)]
        sessions += [
            click_through(p, stop, problems, f"learner{i}", i, times, args.think)
            for i, p in enumerate(learners)
        ]
        tasks = [asyncio.create_task(recorded(s, problems, f"session {i}")) for i, s in enumerate(sessions)]
        loaded = [await wait_for_run(server.runs_dir, r, args.train_seconds * 6 + 300) for r in run_ids]
        if not run_ids:  # no runs to wait for: the load lasts as long as one run would
            await asyncio.sleep(args.train_seconds)
        stop.set()
        await asyncio.gather(*tasks)
        on_server = server_times(server.script_times(load_began, time.time()))
        emit(
            "under_load",
            sessions=args.sessions,
            think_s=args.think,
            runs=loaded,
            generations=len(generated),
            reruns=len(times["rerun"]),
            rerun_median_s=median(times["rerun"]),
            rerun_p95_s=percentile(times["rerun"], 0.95),
            navigate_median_s=median(times["navigate"]),
            navigate_p95_s=percentile(times["navigate"], 0.95),
            on_server=on_server,
            rss_mb=round(server.peak_mb()),
            with_workers_mb=round(server.peak_tree_mb()),
        )
        await browser.close()
        done.set()
    return {"alone": alone, "loaded": loaded, "times": times, "on_server": on_server, "problems": problems}


def niced(executable: str, niceness: int, folder: Path) -> str:
    """A launcher that starts `executable` at `niceness`: the browsers stand in for the viewers'
    own machines, so they get only the CPU the server leaves (0 to share it equally)."""
    if not niceness:
        return executable
    launcher = folder / "chromium-niced"
    launcher.write_text(f'#!/bin/sh\nexec nice -n {niceness} {executable} "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def keep_browsers_niced(niceness: int, stop: threading.Event) -> None:
    """The browsers and Playwright's driver stand in for the viewers' own machines, so they run
    at `niceness`. Chromium starts a session of its own (setsid), and with Linux's autogroup
    scheduling (/proc/sys/kernel/sched_autogroup_enabled) each session gets a share of the CPU set
    by its autogroup's nice value, whatever its processes' own: so set that too
    (/proc/<pid>/autogroup; 0 is half the CPU against the server's session, 5 a quarter). The
    driver shares the server's session: its threads get the nice value one by one."""
    while not stop.wait(0.5):
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                program = cmdline.read_text().split("\0")[0]
                if "chromium" in program:  # /usr/lib/chromium/chromium
                    group = cmdline.parent / "autogroup"
                    if not group.read_text().strip().endswith(f"nice {niceness}"):
                        group.write_text(str(niceness))
                elif "playwright/driver" in program:
                    for task in (cmdline.parent / "task").iterdir():
                        if os.getpriority(os.PRIO_PROCESS, int(task.name)) < niceness:
                            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
            except OSError:  # it ended, or this kernel has no autogroups
                continue


def server_times(runs: list[dict]) -> dict:
    """Median and p95 of the server's time per script run, by what started it (timed_streamlit.py):
    "change" is what a slider move costs the server; "click" includes a button's own work (a whole
    generation); "open" a page opened; "fragment" a live chart's refresh."""
    kinds = {}
    for kind in ("change", "open", "click", "fragment"):
        seconds = [r["seconds"] for r in runs if r["kind"] == kind]
        kinds[kind] = {"runs": len(seconds), "median_s": median(seconds), "p95_s": percentile(seconds, 0.95)}
    slowest = sorted((r for r in runs if r["kind"] == "change"), key=lambda r: -r["seconds"])[:5]
    kinds["slowest_changes"] = [(r["page"], r["seconds"]) for r in slowest]
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default="python3", help="the Python Cloud would run (default python3)")
    default_links = "/opt/wheels" if any(Path("/opt/wheels").glob("torch-*+cpu-*.whl")) else ""
    parser.add_argument("--find-links", default=default_links, help="a folder of wheels for uv ('' for none)")
    parser.add_argument("--venv", help="an installed app venv to reuse (skips the install)")
    shared = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
    parser.add_argument(
        "--data", default=os.environ.get("TINYGPT_DATA") or (str(shared) if shared.is_file() else None)
    )
    parser.add_argument("--sessions", type=int, default=10, help="learners clicking through lessons")
    parser.add_argument(
        "--train-seconds", type=int, default=60, help="each run's budget (the cpu preset's 60)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="a learner's mean seconds of reading between actions (0: none)",
    )
    parser.add_argument("--trainers", type=int, default=2, help="sessions that train a run each under load")
    parser.add_argument("--writers", type=int, default=2, help="sessions that keep generating under load")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=5,
        help="the browsers' nice value, also their autogroup's (0: half the CPU, 5: a quarter)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tinygpt-rehearsal-"))
    emit("machine", cores=os.cpu_count(), load_1min=round(os.getloadavg()[0], 2), work=str(work))
    try:
        python = Path(args.venv) / "bin/python" if args.venv else install(work, args.python, args.find_links)
        tools = work / "tools/bin"
        uv = shutil.which("uv", path=str(tools))
        if args.find_links:
            pip_python = str(tools / "python") if (tools / "python").exists() else sys.executable
            form_check(pip_python, uv, str(python), Path(args.find_links))
        server = Server(python, work, args.data)
        try:
            emit("health", seconds=round(server.wait_healthy(), 2), rss_mb=round(server.peak_mb()))
            result = asyncio.run(browse(server, args))
        finally:
            server.stop()
        problems = result["problems"] + [f"server log: {t}" for t in server.tracebacks()]
        p95 = percentile(result["times"]["rerun"], 0.95)
        server_p95 = result["on_server"]["change"]["p95_s"]
        goals = {
            "no_exception": not problems,
            "peak_rss_below_1GB": server.peak_mb() < GOALS["peak_rss_mb"],
            "server_rerun_p95_below_1s": server_p95 is not None and server_p95 < GOALS["rerun_p95_s"],
        }
        alone = result["alone"]["chars_per_s"]
        emit(
            "summary",
            peak_rss_mb=round(server.peak_mb()),
            peak_with_workers_mb=round(server.peak_tree_mb()),
            server_rerun_p95_s=server_p95,
            browser_rerun_p95_s=p95,
            chars_per_s_alone=alone,
            chars_per_s_under_load=[r["chars_per_s"] for r in result["loaded"]],
            under_load_vs_alone=[round(r["chars_per_s"] / alone, 2) for r in result["loaded"]],
            load_1min=round(os.getloadavg()[0], 2),
            goals=goals,
            problems=problems[:20],
        )
        return 0 if all(goals.values()) else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
