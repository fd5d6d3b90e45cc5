"""The front and the runners keep to their sides: the front service never imports what
loads or runs models, so it starts in a second and carries no model library's memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

RUNNER_SIDE = {"wizpix.slot", "wizpix.models", "wizpix.loading", "wizpix.store", "wizpix.fetch"}
MODEL_LIBRARIES = {"onnxruntime", "rembg", "onnx", "huggingface_hub"}


def test_importing_the_service_loads_no_runner_side_module() -> None:
    script = (
        "import json, sys, service; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {'wizpix', 'onnxruntime', "
        "'rembg', 'onnx', 'huggingface_hub'})))"
    )
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "wizpix.frontend" in loaded and "wizpix.roles" in loaded
    assert not loaded & RUNNER_SIDE, loaded & RUNNER_SIDE
    assert not {m.split(".")[0] for m in loaded} & MODEL_LIBRARIES
