"""`bentoml build` from the project's model store, then `bentoml serve` of the built Bento,
from a folder outside the project (so nothing but the Bento can be imported): a smoke test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import BENTOML, BENTOML_STORE, ROOT, Server, bentoml_serve, pro_label

pytestmark = [pytest.mark.server, pytest.mark.weights]


@contextmanager
def built(**env: str) -> Iterator[str]:
    """`bentoml build` in the project folder with nothing exported but ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.endswith(("_MODEL_NAME", "_MODEL_PATH"))}
    result = subprocess.run(
        [str(BENTOML), "build", "--output", "tag"],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tag = re.search(r"__tag__:(\S+)", result.stdout).group(1)
    try:
        yield tag
    finally:
        subprocess.run([str(BENTOML), "delete", tag, "-y"], capture_output=True, timeout=120)


def packed_models(tag: str) -> set[str]:
    info = subprocess.run(
        [str(BENTOML), "get", tag, "-o", "json"], capture_output=True, text=True, timeout=60
    )
    assert info.returncode == 0, info.stderr
    bento = json.loads(info.stdout)
    # BentoML 1.4 records each service's models; export and containerize copy them in
    declared = bento["models"] + [model for service in bento["services"] for model in service["models"]]
    return {model["tag"].split(":")[0] for model in declared}


@pytest.fixture(scope="module")
def bento_tag() -> Iterator[str]:
    with built() as tag:
        yield tag


def test_the_bento_packs_code_page_and_both_models_and_nothing_else(bento_tag: str) -> None:
    assert packed_models(bento_tag) == {"u2netp", "isnet-general-use"}
    home = BENTOML_STORE / "bentos" / bento_tag.replace(":", "/")
    files = {str(path.relative_to(home / "src")) for path in (home / "src").rglob("*") if path.is_file()}
    packed = {"service.py", "wizpix/front/ui/index.html", "models/manifest.toml", "wizpix/runner/kinds.py"}
    assert packed <= files
    assert not any(
        name.startswith((".venv", "tests", ".bentoml")) or name.endswith(".onnx") for name in files
    )


def test_the_bento_packs_the_configured_models() -> None:
    """The models the settings name, not a list written in bentofile.yaml."""
    with built(FAST_MODEL_NAME="mock") as tag:
        assert packed_models(tag) == {"isnet-general-use"}


def test_the_built_bento_serves_a_cutout(bento_tag: str, tmp_path: Path, astronaut: bytes) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with bentoml_serve(tmp_path, target=bento_tag, cwd=elsewhere) as server:
        health = server.wait_for(lambda body: body["status"] == "ok", timeout=240, what="status ok")
        assert health["models"]["pro"]["source"].startswith("bentoml store isnet-general-use:")
        with server.client() as client:
            response = client.post(
                "/remove-bg?quality=pro", files={"file": ("a.jpg", astronaut, "image/jpeg")}
            )
            page = client.get("/ui")
        assert response.status_code == 200
        assert response.headers["x-wizpix-model"] == pro_label(server)  # fused with fast
        assert page.status_code == 200 and "Remove background" in page.text
    assert isinstance(server, Server)
