"""The image under a memory limit: 2 GiB, the bench's three inputs on both tiers, nothing killed."""

from __future__ import annotations

import pytest

from deploy.podman import podman
from loadtest.photos import bench_inputs
from tests.image.conftest import cgroup_file, container, inside, logs, wait_ready

pytestmark = [pytest.mark.image, pytest.mark.weights]
LIMIT = 2 * 2**30


def test_it_serves_the_bench_images_within_2_gib(image: str, tmp_path) -> None:
    with container("wizpix-test-limits", image, "--network", "none", "--memory", str(LIMIT)) as name:
        wait_ready(name)
        for index, (label, (payload, _)) in enumerate(bench_inputs().items()):
            path = tmp_path / f"input-{index}"
            path.write_bytes(payload)
            for quality in ("fast", "pro"):
                url = f"localhost:3000/remove-bg?quality={quality}"
                answer = inside(
                    name, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"file=@{path}", url
                )
                assert answer.stdout == "200", (label, quality, answer.stdout, logs(name))
        assert podman("inspect", "--format", "{{.State.OOMKilled}}", name).strip() == "false"
        peak = int(cgroup_file(name, "memory.max_usage_in_bytes").read_text())
        print(f"peak memory under a {LIMIT / 2**30:.0f} GiB limit: {peak / 2**20:.0f} MiB")
        assert peak < LIMIT
        assert podman("inspect", "--format", "{{.State.Running}}", name).strip() == "true"
