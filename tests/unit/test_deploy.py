"""The deployment tooling's pure parts: the manifest as Podman plays it, the balancers'
configuration, the image's requirements. (tests/image runs them for real.)"""

from __future__ import annotations

import re

import yaml

from deploy.image import requirements_in
from deploy.local import INGRESS, TASK_MAP, backends, deployments, documents, haproxy_config

DOCS = documents()


def test_each_deployment_runs_one_service_of_the_bento_with_bentomls_own_start() -> None:
    played = {d["metadata"]["name"]: d for d in deployments(DOCS, "localhost/wizpix:test", {"wizpix-pro": 3})}
    assert set(played) == {"wizpix-fast", "wizpix-pro", "wizpix-front"}
    assert played["wizpix-pro"]["spec"]["replicas"] == 3
    services = {doc["metadata"]["name"] for doc in DOCS if doc["kind"] == "Service"}
    for deployment in played.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "localhost/wizpix:test"
        assert "ports" not in container and "livenessProbe" not in container
        args = " ".join(container["args"])
        assert args.startswith("start-http-server --service-name")
        # the front reaches each runner through the runner's Service, BentoML's way
        for target in re.findall(r"--depends=(\S+)=http://(\S+):3000", args):
            assert target[0] == target[1] and target[1] in services, target
    front_args = " ".join(played["wizpix-front"]["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "--depends=wizpix-fast=" in front_args and "--depends=wizpix-pro=" in front_args
    # the file itself is untouched
    assert all(doc["spec"]["template"]["spec"]["containers"][0]["image"].startswith("registry.")
               for doc in DOCS if doc["kind"] == "Deployment")  # fmt: skip


def test_every_service_has_a_balancer_over_its_pods_checked_by_the_readiness_probe() -> None:
    found = {b.service: b for b in backends(DOCS, deployments(DOCS, "x", {"wizpix-pro": 2}))}
    assert found["wizpix-pro"].pods == ("wizpix-pro-pod-0", "wizpix-pro-pod-1")
    pro = haproxy_config(found["wizpix-pro"])
    assert "mode tcp" in pro and "balance leastconn" in pro and "option httpchk GET /readyz" in pro
    assert "server wizpix-pro-pod-1 wizpix-pro-pod-1:3000" in pro and "mode http" not in pro
    ingress = haproxy_config(found[INGRESS])
    assert "mode http" in ingress and "balance roundrobin" in ingress
    assert f"set-map({TASK_MAP})" in ingress and "url_param(task_id)" in ingress
    for pod in found[INGRESS].pods:  # a backend per front, tracking the checked server
        assert f"backend task-{pod}" in ingress and f"track {INGRESS}/{pod}" in ingress


def test_the_single_pod_manifest_is_valid_yaml_with_probes() -> None:
    from deploy.local import ROOT

    single = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes-single.yaml").read_text()) if d]
    (deployment,) = [d for d in single if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_gpu_image_swaps_onnx_runtimes_build() -> None:
    cpu, cuda = requirements_in("cpu"), requirements_in("cuda")
    assert re.search(r"^onnxruntime==", cpu, re.M) and not re.search(r"^onnxruntime==", cuda, re.M)
    assert "requirements-gpu.txt" in cuda
