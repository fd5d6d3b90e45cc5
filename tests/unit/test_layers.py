"""The front and the runners keep to their sides: the front service never imports what
loads or runs models, so it starts in a second and carries no model library's memory."""

from __future__ import annotations

import json

from tests.conftest import run_python

RUNNER_SIDE = {"wizpix.slot", "wizpix.models", "wizpix.loading", "wizpix.store", "wizpix.fetch"}
MODEL_LIBRARIES = {"onnxruntime", "rembg", "onnx", "huggingface_hub"}


def test_importing_the_service_loads_no_runner_side_module() -> None:
    script = (
        "import json, sys, service; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {'wizpix', 'onnxruntime', "
        "'rembg', 'onnx', 'huggingface_hub'})))"
    )
    loaded = set(json.loads(run_python(script).splitlines()[-1]))
    assert "wizpix.frontend" in loaded and "wizpix.roles" in loaded
    assert not loaded & RUNNER_SIDE, loaded & RUNNER_SIDE
    assert not {m.split(".")[0] for m in loaded} & MODEL_LIBRARIES
