"""Prometheus metrics on BentoML's /metrics and one JSON log line per request, on a real
`bentoml serve` (mock fast model; a pro model whose weights are absent, so pro falls back)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Server, bentoml_serve

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("observed")
    env = {
        "FAST_MODEL_NAME": "mock",
        "PRO_MODEL_NAME": "birefnet-portrait",
        "MODEL_DIR": str(base / "no-models"),
        "BENTOML_HOME": str(base / "empty-store"),
    }
    with bentoml_serve(base, **env) as running:
        running.wait_for(lambda body: body["models"]["fast"]["state"] == "ready", what="fast ready")
        yield running


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus' text format (0 when absent)."""
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def series(metrics: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every series of one metric: labels → value."""
    found = {}
    for line in metrics.splitlines():
        if line.startswith(name + "{"):
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])))
            found[labels] = float(line.rsplit(" ", 1)[1])
    return found


def test_known_series_exist_at_zero_before_any_request(server: Server) -> None:
    """So that an alert on fallbacks or on pro traffic can be written before it happens."""
    with server.client() as client:
        metrics = client.get("/metrics").text
    fallbacks = {
        dict(labels)["reason"]: value for labels, value in series(metrics, "wizpix_fallbacks_total").items()
    }
    assert fallbacks == {"loading": 0, "missing": 0, "failed": 0, "unreachable": 0, "error": 0, "busy": 0}
    cache = {
        dict(labels)["result"]: value for labels, value in series(metrics, "wizpix_mask_cache_total").items()
    }
    assert cache == {"hit": 0, "miss": 0}
    requests = series(metrics, "wizpix_requests_total")
    for asked in ("fast", "pro"):
        for served in ("fast", "pro"):
            assert requests[(("asked", asked), ("served", served), ("status", "200"))] == 0


def test_metrics_count_requests_fallbacks_errors_sizes_inference_and_batches(
    server: Server, disc_png: bytes
) -> None:
    with server.client() as client:
        before = client.get("/metrics").text
        for _ in range(2):
            assert client.post(
                "/remove-bg?quality=pro", files={"file": ("secret-name.png", disc_png)}
            ).is_success
        assert client.post("/remove-bg", files={"file": ("d.png", disc_png)}).status_code == 200
        assert client.post("/remove-bg", files={"file": ("x.png", b"not an image")}).status_code == 400
        assert client.post("/remove-bg?bg_color=zz", files={"file": ("d.png", disc_png)}).status_code == 422
        metrics = client.get("/metrics").text
    assert sample(metrics, "wizpix_requests_total", asked="pro", served="fast", status="200") == 2
    assert sample(metrics, "wizpix_requests_total", asked="fast", served="fast", status="200") == 1
    assert sample(metrics, "wizpix_requests_total", asked="fast", served="none", status="400") == 1
    assert sample(metrics, "wizpix_fallbacks_total", reason="missing") == 2
    assert sample(metrics, "wizpix_errors_total", code="not_an_image", status="400") == 1
    assert sample(metrics, "wizpix_errors_total", code="invalid_request", status="422") == 1
    assert sample(metrics, "wizpix_input_megapixels_count", asked="pro") == 2
    assert sample(metrics, "wizpix_input_megapixels_sum", asked="fast") == pytest.approx(0.0768, abs=0.001)
    # the same upload three times: inferred once, then twice from the mask cache
    assert sample(metrics, "wizpix_mask_cache_total", result="miss") == 1
    assert sample(metrics, "wizpix_mask_cache_total", result="hit") == 2
    assert float(re.search(r"^wizpix_mask_cache_bytes(?:\{[^}]*\})? (\S+)$", metrics, re.M).group(1)) > 0
    # the runner's own series, gathered on the front's /metrics by BentoML
    for series_name in ("wizpix_inference_seconds_count", "wizpix_batch_size_count"):
        ran = sample(metrics, series_name, model="mock") - sample(before, series_name, model="mock")
        assert ran == 1, (series_name, ran)


def log_lines(server: Server, wanted: set[str], timeout_s: float = 10) -> dict[str, dict]:
    """The request log lines by request id. Each is written just after its answer has been
    sent, so the client can be a moment ahead of the log: wait for the ones wanted."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = re.findall(r"\] (\{\"status\".*?\}) \(trace=", server.log.read_text())
        by_id = {line["request_id"]: line for line in map(json.loads, found)}
        if wanted <= by_id.keys() or time.monotonic() > deadline:
            return by_id
        time.sleep(0.1)


def test_one_json_log_line_per_request_with_its_id_and_never_the_image(
    server: Server, disc_png: bytes
) -> None:
    with server.client() as client:
        served = client.post(
            "/remove-bg?quality=pro",
            files={"file": ("holiday-photo-of-alice.png", disc_png)},
            headers={"X-Request-Id": "node-42"},
        )
        refused = client.post("/remove-bg", files={"file": ("x.png", b"plain text")})
    assert served.headers["x-request-id"] == "node-42"
    generated = refused.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    by_id = log_lines(server, {"node-42", generated})
    ok, bad = by_id["node-42"], by_id[generated]
    assert ok["status"] == 200 and ok["asked"] == "pro" and ok["served"] == "fast" and ok["model"] == "mock"
    assert ok["fallback_code"] == "missing" and ok["width"] == 320 and ok["height"] == 240
    assert ok["input_bytes"] == len(disc_png) and ok["output_bytes"] == len(served.content)
    assert ok["total_ms"] >= ok["work_ms"] > 0 and ok["cache"] == "hit"  # the upload of the test above
    assert bad["status"] == 400 and bad["error"] == "not_an_image"
    log = server.log.read_text()
    assert "holiday-photo-of-alice" not in log and "plain text" not in log
