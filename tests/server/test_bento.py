"""`bentoml build` from the project's model store, then `bentoml serve` of the built Bento,
from a folder outside the project (so nothing but the Bento can be imported): a smoke test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BENTOML, ROOT, Server, bentoml_serve

pytestmark = [pytest.mark.server, pytest.mark.weights]


@pytest.fixture(scope="module")
def bento_tag() -> Iterator[str]:
    built = subprocess.run(
        [str(BENTOML), "build", "--output", "tag"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    tag = re.search(r"__tag__:(\S+)", built.stdout).group(1)
    yield tag
    subprocess.run([str(BENTOML), "delete", tag, "-y"], capture_output=True, timeout=120)


def test_the_bento_packs_code_page_and_both_models_and_nothing_else(bento_tag: str) -> None:
    info = subprocess.run(
        [str(BENTOML), "get", bento_tag, "-o", "json"], capture_output=True, text=True, timeout=60
    )
    assert info.returncode == 0, info.stderr
    models = {model["tag"].split(":")[0] for model in json.loads(info.stdout)["models"]}
    assert models == {"u2netp", "isnet-general-use"}
    home = Path(os.environ["BENTOML_HOME"]) / "bentos" / bento_tag.replace(":", "/")
    files = {str(path.relative_to(home / "src")) for path in (home / "src").rglob("*") if path.is_file()}
    assert {"service.py", "wizpix/ui/index.html", "models/manifest.toml"} <= files
    assert not any(
        name.startswith((".venv", "tests", ".bentoml")) or name.endswith(".onnx") for name in files
    )


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
        assert response.status_code == 200 and response.headers["x-wizpix-model"] == "isnet-general-use"
        assert page.status_code == 200 and "Remove background" in page.text
    assert isinstance(server, Server)
