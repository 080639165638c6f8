"""`streamlit ...` with every script run timed on the server, for bench/rehearsal.py.

Appends one JSON line per script run to the file $TINYGPT_SCRIPT_TIMES: when it ended (epoch
seconds), how long it took, its page, and what started it: "open" (the session's first run, or a
page other than its last), "click" (a button: its run does the button's work, a generation say),
"fragment" (a fragment's own rerun, e.g. a live chart's refresh) or "change" (a widget's new
value on the same page: a slider moved, a box edited). This is the server's share of a rerun's
latency, without the browser's own drawing: on Community Cloud the browsers run on the viewers'
machines, on the rehearsal's machine they share the server's cores.

    TINYGPT_SCRIPT_TIMES=times.jsonl python bench/timed_streamlit.py run app.py --server.headless true
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from streamlit.runtime.scriptrunner import script_runner
from streamlit.web import cli

_write_lock = threading.Lock()
_run_script = script_runner.ScriptRunner._run_script  # one call is one run, even one a rerun cut short
_last_page: dict[str, str] = {}  # by browser session: the page it last ran


def _clicked(rerun_data) -> bool:
    states = rerun_data.widget_states.widgets if rerun_data.widget_states else []
    return any(s.WhichOneof("value") == "trigger_value" and s.trigger_value for s in states)


def _kind(runner, rerun_data, page: str) -> str:
    if rerun_data.fragment_id_queue or rerun_data.fragment_id:
        return "fragment"
    if _last_page.get(runner._session_id) != page:
        return "open"
    return "click" if _clicked(rerun_data) else "change"


def _timed_run_script(self, rerun_data) -> None:
    start = time.perf_counter()
    try:
        _run_script(self, rerun_data)
    finally:
        seconds = time.perf_counter() - start
        pages = self._pages_manager
        page = pages.get_pages().get(pages.current_page_script_hash, {}).get("page_name", "?")
        record = {"ended": time.time(), "seconds": round(seconds, 4), "page": page}
        record["kind"] = _kind(self, rerun_data, page)
        _last_page[self._session_id] = page
        with _write_lock, open(os.environ["TINYGPT_SCRIPT_TIMES"], "a") as out:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    script_runner.ScriptRunner._run_script = _timed_run_script
    sys.exit(cli.main())
