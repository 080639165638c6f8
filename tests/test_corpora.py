"""The shipped sample text (assets/sample-server-logs.txt) and its generator, course.corpora: the
generator reproduces the shipped file byte for byte, and the file is a real access log of 200 KB or more."""

import re
from collections import Counter
from datetime import datetime

import pytest

from course import corpora

# nginx's "combined" format: address, user, [time], "request", status, bytes, "referrer", "user agent"
LINE = re.compile(
    r'(?P<ip>[0-9a-f.:]+) - - \[(?P<time>[^\]]+)\] "(?P<method>GET|POST) (?P<path>/\S*) HTTP/1\.1" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<referrer>[^"]*)" "(?P<agent>[^"]+)"'
)


@pytest.fixture(scope="module")
def shipped() -> bytes:
    return corpora.SAMPLE_LOGS.read_bytes()


@pytest.fixture(scope="module")
def lines(shipped) -> list[re.Match]:
    return [LINE.fullmatch(line) for line in shipped.decode("ascii").splitlines()]


def test_the_generator_reproduces_the_shipped_file(shipped):
    assert corpora.generate().encode("ascii") == shipped, "run `python -m course.corpora` and commit the file"


def test_the_shipped_file_is_plain_ascii_and_at_least_200_kb(shipped):
    assert len(shipped) >= 200_000
    assert all(32 <= b < 127 or b == 10 for b in shipped)  # printable ASCII and newlines, nothing else
    assert shipped.endswith(b"\n") and b"\n\n" not in shipped


def test_write_sample_writes_what_generate_returns(tmp_path):
    path = corpora.write_sample(tmp_path / "logs.txt")
    assert path.read_bytes() == corpora.generate().encode("ascii")


def test_another_seed_gives_another_log_of_the_asked_size():
    text = corpora.generate(seed=7, target_bytes=20_000)
    assert text != corpora.generate(target_bytes=20_000)
    assert 20_000 <= len(text) < 20_000 + 400 and text.endswith("\n")  # cut after the line that passes it


def test_every_line_is_a_combined_log_line_in_time_order(lines):
    assert all(lines), "a line does not parse"
    times = [datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z") for m in lines]
    assert times == sorted(times)
    assert (times[-1] - times[0]).total_seconds() > 3_600  # an hour or more of traffic, not a burst


def test_statuses_have_a_real_sites_mix(lines):
    statuses = Counter(m["status"] for m in lines)
    assert statuses.most_common(1)[0][0] == "200" and statuses["200"] > 0.6 * len(lines)
    assert {"204", "302", "304", "404"} <= set(statuses)
    assert all(m["bytes"] == "0" for m in lines if m["status"] in ("204", "302", "304"))


def test_a_status_follows_from_its_request(lines):
    """Structure a model can learn: what each kind of request answers."""
    for m in lines:
        if m["method"] == "POST" and m["path"] == "/cart/add":
            assert m["status"] == "302"
        if m["path"] in corpora.PROBES:
            assert m["status"] in ("403", "404")
        if m["path"].startswith("/static/"):
            assert m["status"] in ("200", "304")


def test_products_seen_from_a_category_belong_to_it(lines):
    pairs = [
        (m["referrer"].split("/category/")[1].split("?")[0], int(m["path"].split("/")[2]))
        for m in lines
        if m["path"].startswith("/product/") and "/category/" in m["referrer"]
    ]
    assert len(pairs) > 10
    assert all(corpora.CATEGORIES[(product - 101) % len(corpora.CATEGORIES)] == c for c, product in pairs)


def test_addresses_are_reserved_for_documentation(lines):
    reserved = ("192.0.2.", "198.51.100.", "203.0.113.", "198.18.", "198.19.", "2001:db8:", "10.")
    assert all(m["ip"].startswith(reserved) for m in lines)
