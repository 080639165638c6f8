"""Measure the "which part does what" lesson's promises and print them as one JSON line: after the
first computation an interaction reruns in <= 300 ms of server time, and the full head map of the
shipped model is computed in <= 5 s (then cached).

Course level (`course.interventions`, `course.induction`, one thread as on the page): the head map
from cold (the validation slice's mean activations, then each head switched off), the whole layers,
the induction scores, and a patch map per stage. Page level, under Streamlit's AppTest (the real
script, caches and widgets; server time is the script's own execution, as in bench_inside): the
first run, choosing each head once (its ablated prompt is a cache miss, the rest hits) and again,
ten new 64-character prompts, each patched stage the first time and again, the ablation switched
the first time and back and forth, and a rerun with nothing changed.

Usage: python -m bench.bench_interventions [--rounds 3]. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from bench.bench_inside import SHARED_DATA, ScriptClock, ms, timed
from bench.machine import machine
from course import induction, patching
from course import interventions as iv
from tinygpt import corpus, load_checkpoint, split_data

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "lessons" / "8_interventions.py"
SHIPPED = ROOT / "checkpoints" / "shakespeare-gpt.safetensors"
CLEAN, CORRUPT = "MERCUTIO:\nA plague o' both your hou", "MERCUTIO:\nA plague o' both your mou"
TARGET_MS, HEAD_MAP_S = 300, 5.0


def course_timings(text: str) -> dict:
    ckpt = load_checkpoint(SHIPPED)
    model, tok = ckpt.model, ckpt.tokenizer
    val = split_data(torch.tensor(tok.encode(text, unknown="replace"))).val
    x, y = iv.reference_batch(val, model.config.block_size)
    iv.run(model, x)  # warm-up: first-call costs
    start = time.perf_counter()
    means = iv.mean_activations(model, x, iv.heads(model) + iv.layers(model))
    iv.ablate_each(model, x, y, iv.heads(model), "mean", means)
    head_map = time.perf_counter() - start
    out = {
        "reference_tokens": y.numel(),
        "head_map_s": round(head_map, 2),
        "layers_s": round(timed(lambda: iv.ablate_each(model, x, y, iv.layers(model), "mean", means)), 2),
        "induction_s": round(timed(lambda: induction.measure(model, "mean", means)), 2),
    }
    a, b = tok.encode(CLEAN), tok.encode(CORRUPT)
    for stage in ("resid", "attn", "mlp"):
        out[f"patch_{stage}_ms"] = round(
            1e3 * timed(lambda stage=stage: patching.patch_map(model, a, b, stage)), 1
        )
    out["head_map_meets_target"] = head_map <= HEAD_MAP_S
    return out


def page_timings(rounds: int, prompts: list[str]) -> dict:
    clock = ScriptClock()
    at = AppTest.from_file(str(PAGE), default_timeout=300)
    first = timed(lambda: at.run())
    names = ("head_new", "head_again", "prompt_new", "stage_again", "mode_again", "unchanged")
    runs = {name: [] for name in names}
    firsts = {}

    def change(kind: str, key: str, value, into: str | None) -> None:
        getattr(at, kind)(key=key).set_value(value).run()
        if at.exception:
            raise RuntimeError(at.exception[0].message)
        if into in runs:
            runs[into].append(clock.last)
        elif into:
            firsts[into] = round(clock.last * 1e3, 1)

    heads = at.selectbox(key="interventions_head").options
    for i in range(len(heads)):
        change("selectbox", "interventions_head", i, "head_new")
    for _ in range(rounds):
        for i in range(len(heads)):
            change("selectbox", "interventions_head", i, "head_again")
    for text in prompts:  # a new 64-character prompt: its trace and ablated pass are cache misses
        change("text_area", "interventions_prompt", text, "prompt_new")
    for stage in ("attn", "mlp"):
        change("radio", "interventions_stage", stage, f"stage_{stage}_first_ms")
    change("radio", "interventions_mode", "zero", "mode_zero_first_ms")
    for _ in range(rounds):
        for stage in ("resid", "attn", "mlp"):
            change("radio", "interventions_stage", stage, "stage_again")
        for mode in ("mean", "zero"):
            change("radio", "interventions_mode", mode, "mode_again")
        at.run()
        runs["unchanged"].append(clock.last)
    interactions = {name: ms(seconds) for name, seconds in runs.items()}
    worst = max(v["median_ms"] for v in interactions.values())
    return {
        "first_run_s": round(first, 2),
        **firsts,
        "after_first_computation": interactions,
        "target_ms": TARGET_MS,
        "meets_target": worst <= TARGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if "TINYGPT_DATA" not in os.environ and SHARED_DATA.is_file():
        os.environ["TINYGPT_DATA"] = str(SHARED_DATA)
    torch.set_num_threads(1)  # as app.py runs every page
    text = corpus.load_shakespeare()
    result = {
        "bench": "interventions",
        "machine": machine(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "course": course_timings(text),
        "page": page_timings(args.rounds, [text[i * 997 : i * 997 + 64] for i in range(1, 11)]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
