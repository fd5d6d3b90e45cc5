"""`make deploy-local`: deploy/kubernetes.yaml played on Podman, with real Services in front.

    python -m deploy.local up [--image wizpix:latest] [--port 3000] [--replicas wizpix-pro=1]
    python -m deploy.local down

`podman kube play` runs each Deployment's replicas as pods (``<deployment>-pod-<n>``) on one
network, but does not do what a cluster adds around them: Services, and readiness probes
deciding who gets traffic. Those are done here by HAProxy (Debian's package, in a container
made from Debian's packages like the service's base), one container per Service, named as
the Service so the manifest's URLs (``http://wizpix-pro:3000``) resolve on the network:

- a runner's Service balances per connection in TCP mode, to the pod with the fewest open
  connections, as kube-proxy does in IPVS mode with its ``lc`` scheduler;
  its health check is the Deployment's readiness probe (path and period read from the file);
- the front's Service is the ingress, published on ``localhost:PORT``: HTTP mode, balanced per
  request, and a task's calls (status, get, cancel, batch_progress) go to the front that took
  it (a stick table keyed by the task id its submit answered), since BentoML keeps a task in
  the process that runs it.

Everything is named, and ``down`` (or the end of ``deployed()``) removes all of it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.image import debian_image, say  # noqa: E402
from deploy.podman import podman, remove  # noqa: E402

MANIFEST = ROOT / "deploy" / "kubernetes.yaml"
NETWORK = "wizpix"
INGRESS = "wizpix-front"  # the Service published on localhost, balanced per request
BALANCER_PACKAGES = ("haproxy",)


@dataclass(frozen=True)
class Backend:
    """A Service and the pods its selector picks, with their readiness probe."""

    service: str
    port: int
    pods: tuple[str, ...]
    target_port: int
    probe_path: str
    probe_period_s: int


def documents(path: Path = MANIFEST) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def deployments(docs: list[dict], image: str, replicas: dict[str, int]) -> list[dict]:
    """The manifest's Deployments as kube play runs them here: the local image, any replica
    counts given, no host ports, no liveness probes."""
    played = []
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        doc = copy.deepcopy(doc)
        name = doc["metadata"]["name"]
        doc["spec"]["replicas"] = replicas.get(name, doc["spec"]["replicas"])
        for container in doc["spec"]["template"]["spec"]["containers"]:
            container["image"] = image
            # Podman 4.3 publishes a containerPort on the host's same port (Kubernetes does
            # not): the pods' ports are reached on the network instead. Its liveness checks
            # need systemd's timers, which these machines do not run: left out (a crashed
            # container is restarted by the pod's restart policy all the same).
            container.pop("ports", None)
            container.pop("livenessProbe", None)
        played.append(doc)
    return played


def pod_names(deployment: dict) -> tuple[str, ...]:
    name = deployment["metadata"]["name"]
    return tuple(f"{name}-pod-{index}" for index in range(deployment["spec"]["replicas"]))


def container_names(deployment: dict) -> tuple[str, ...]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return tuple(f"{pod}-{c['name']}" for pod in pod_names(deployment) for c in containers)


def backends(docs: list[dict], played: list[dict]) -> list[Backend]:
    found = []
    for service in (doc for doc in docs if doc["kind"] == "Service"):
        selector = service["spec"]["selector"]
        port = service["spec"]["ports"][0]
        targets = [d for d in played if d["spec"]["selector"]["matchLabels"] == selector]
        pods = tuple(pod for target in targets for pod in pod_names(target))
        probe = targets[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        found.append(
            Backend(
                service=service["metadata"]["name"],
                port=port["port"],
                pods=pods,
                target_port=port["targetPort"],
                probe_path=probe["httpGet"]["path"],
                probe_period_s=probe.get("periodSeconds", 10),
            )
        )
    return found


GLOBAL = """\
global
  log stdout format raw local0 info
  maxconn 4096

defaults
  log global
  option dontlognull
  timeout connect 2s
  timeout client 300s
  timeout server 300s
  timeout check 2s
  # a connection refused by a dead pod is tried on another one, as a Service's endpoints
  # would no longer list it
  retries 3
  option redispatch 1

resolvers podman
  parse-resolv-conf
  hold valid 1s
  hold obsolete 1s
"""

TASK_MAP = "/etc/haproxy/tasks.map"
# BentoML keeps a task in the front process that took it, so the ingress sends its later calls
# there: a submit's answer names the task, kept in a map (task id → that front's own
# backend); a call that names a task (query task_id, or batch_progress's JSON body) goes
# where the map says. A stick table cannot do it: HAProxy stores its entries before a
# response's body can be read.
TASK_ROUTING = f"""\
  acl submitted var(txn.submit) -m found
  http-request set-var(txn.submit) str(1) if {{ path_end /submit }}
  http-request wait-for-body time 2s if {{ path /batch_progress }}
  http-request set-var(txn.task) url_param(task_id)
  http-request set-var(txn.task) req.body,json_query('$.task_id') if {{ path /batch_progress }}
  use_backend %[var(txn.task),map({TASK_MAP})] if {{ var(txn.task),map({TASK_MAP}) -m found }}
  http-response wait-for-body time 10s if submitted
  http-response set-map({TASK_MAP}) %[res.body,json_query('$.task_id')] task-%[srv_name] if submitted
"""
SERVER_OPTIONS = "resolvers podman init-addr last,libc,none"


def haproxy_config(backend: Backend) -> str:
    """HAProxy's configuration for one Service: TCP per connection (kube-proxy in IPVS mode,
    least connections), or the ingress: HTTP per request, round robin, tasks routed."""
    check = [
        f"  option httpchk GET {backend.probe_path}",
        "  http-check expect status 200",
        f"  default-server check inter {backend.probe_period_s}s downinter 1s rise 1 fall 2 {SERVER_OPTIONS}",
        *(f"  server {pod} {pod}:{backend.target_port}" for pod in backend.pods),
    ]
    if backend.service != INGRESS:
        lines = [f"listen {backend.service}", "  mode tcp", "  option tcplog", "  bind :3000"]
        lines += ["  balance leastconn", *check]
    else:
        lines = [f"frontend {backend.service}", "  mode http", "  option httplog", "  bind :3000"]
        lines += [TASK_ROUTING.rstrip("\n"), f"  default_backend {backend.service}", ""]
        lines += [f"backend {backend.service}", "  mode http", "  balance roundrobin", *check]
        for pod in backend.pods:  # one backend per front, its health that of its server above
            lines += ["", f"backend task-{pod}", "  mode http"]
            lines.append(
                f"  server {pod} {pod}:{backend.target_port} track {backend.service}/{pod} {SERVER_OPTIONS}"
            )
    return GLOBAL + "\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Deployment:
    """What `up` started: the ingress's URL, and every name it made."""

    url: str
    played: list[dict]
    balancers: tuple[str, ...]

    def containers(self, deployment: str) -> tuple[str, ...]:
        return next(container_names(d) for d in self.played if d["metadata"]["name"] == deployment)


def up(image: str, port: int, replicas: dict[str, int], workdir: Path) -> Deployment:
    docs = documents()
    played = deployments(docs, image, replicas)
    found = backends(docs, played)
    down()  # a previous run's leftovers
    balancer_image = debian_image("wizpix-balancer", BALANCER_PACKAGES)
    podman("network", "create", NETWORK)
    manifest = workdir / "kube.yaml"
    manifest.write_text(yaml.safe_dump_all(played, sort_keys=False))
    counts = ", ".join(f"{d['metadata']['name']}×{d['spec']['replicas']}" for d in played)
    say(f"kube play: {counts}")
    podman("kube", "play", "--network", NETWORK, str(manifest), timeout=300)
    for backend in found:
        folder = workdir / backend.service
        folder.mkdir(exist_ok=True)
        (folder / "haproxy.cfg").write_text(haproxy_config(backend))
        (folder / Path(TASK_MAP).name).write_text("")  # filled at run time, in memory
        published = ["--publish", f"{port}:3000"] if backend.service == INGRESS else []
        podman(
            "run", "--detach", "--name", backend.service, "--network", NETWORK, *published,
            "--volume", f"{folder}:/etc/haproxy:ro", "--user", "haproxy",
            balancer_image, "haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-db",
        )  # fmt: skip
    return Deployment(f"http://127.0.0.1:{port}", played, tuple(b.service for b in found))


def pod_address(container: str) -> str:
    """Where the host reaches a pod's container: its pod's address on the network."""
    pod = container.rsplit("-", 1)[0]
    infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod).strip()
    template = "{{.NetworkSettings.Networks." + NETWORK + ".IPAddress}}"
    return podman("inspect", "--format", template, infra).strip()


def inferences(container: str) -> int:
    """Masks the runner in ``container`` has made so far, from its own /metrics."""
    text = httpx.get(f"http://{pod_address(container)}:3000/metrics", timeout=10).text
    sums = [line for line in text.splitlines() if line.startswith("wizpix_batch_size_sum")]
    return int(sum(float(line.split()[-1]) for line in sums))


def wait_ready(url: str, timeout: float = 300) -> dict:
    """Until the front, through its ingress, says status ok."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"{url}/health", timeout=5).json()
            if isinstance(last, dict) and last.get("status") == "ok":
                return last
        except (httpx.HTTPError, ValueError) as error:
            last = error
        time.sleep(1)
    raise TimeoutError(f"{url} not ok after {timeout:.0f} s; last: {last}")


def down() -> None:
    """Every pod, balancer and the network this module makes, whatever state they are in."""
    docs = documents()
    played = deployments(docs, "unused", {})
    pods = {pod for d in played for pod in pod_names(d)}
    # more replicas than the file says may have been played: every pod of a Deployment
    listed = podman("pod", "ps", "--format", "{{.Name}}", check=False).split()
    names = {d["metadata"]["name"] for d in played}
    pods |= {pod for pod in listed if pod.rsplit("-pod-", 1)[0] in names}
    services = tuple(doc["metadata"]["name"] for doc in docs if doc["kind"] == "Service")
    remove(containers=services, pods=tuple(sorted(pods)), networks=(NETWORK,))


@contextmanager
def deployed(image: str, port: int, replicas: dict[str, int] | None = None) -> Iterator[Deployment]:
    """Up, ready, and down again whatever happens (tests and the bench)."""
    with tempfile.TemporaryDirectory(prefix="wizpix-deploy-") as workdir:
        try:
            deployment = up(image, port, replicas or {}, Path(workdir))
            wait_ready(deployment.url)
            yield deployment
        finally:
            down()


def _replicas(values: list[str]) -> dict[str, int]:
    return {name: int(count) for name, count in (value.split("=", 1) for value in values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--image", default="wizpix:latest")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--replicas", action="append", default=[], metavar="DEPLOYMENT=N")
    args = parser.parse_args(argv)
    if args.action == "down":
        down()
        say("deploy-local: removed")
        return 0
    workdir = ROOT / "build" / "deploy-local"
    workdir.mkdir(parents=True, exist_ok=True)
    deployment = up(args.image, args.port, _replicas(args.replicas), workdir)
    health = wait_ready(deployment.url)
    say(f"ready: {deployment.url} ({health['status']}); `make deploy-local-down` removes it")
    for d in deployment.played:
        say(f"  {d['metadata']['name']}: {', '.join(container_names(d))}")
    say(f"  Services (HAProxy): {', '.join(deployment.balancers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
