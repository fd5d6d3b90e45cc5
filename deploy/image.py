"""`make image`: the service's OCI image, built by Podman from the project's own files.

    python -m deploy.image                       # wizpix:latest, on a base made from Debian's packages
    python -m deploy.image --tag wizpix:1.2 --base python:3.11-slim-bookworm
    python -m deploy.image --device cuda         # ONNX Runtime's GPU build and CUDA from wheels
    python -m deploy.image --report wizpix:latest  # size, largest layers and packages

The steps, each said as it runs:

1. The base. Unless ``--base`` names one, a Debian 12 root file system made by mmdebstrap
   from the host's own Debian sources (Python 3.11 and the system libraries bentofile.yaml
   lists, nothing else), imported as ``wizpix-base:bookworm-<recipe>``: no public container
   registry is needed. Made once per recipe.
2. The runtime requirements, pinned: requirements.txt resolved by uv under requirements.lock,
   so the image runs the same versions as the venv the tests ran on (the Bento would
   otherwise resolve every transitive dependency afresh at build time), less what
   deploy/image/excludes.txt leaves out, and installed as resolved (no dependencies added).
3. The Bento: `bentoml build` with bentofile.yaml, the base and the pinned requirements set
   in a generated copy of it (build/image/bentofile.yaml), so the models the settings name are
   packed from BentoML's store as usual.
4. The image: `bentoml containerize --backend podman`. The build borrows, through one
   read-only mount, uv and the host's CA bundle (a proxy that re-signs TLS, as here and behind
   many corporate networks); neither ends up in the image. The intermediate Bento is deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.podman import environment, image_exists, image_size, podman  # noqa: E402

BUILD = ROOT / "build" / "image"
BENTOML = Path(sys.executable).with_name("bentoml")
UV = Path(sys.executable).with_name("uv")
EXCLUDES = ROOT / "deploy" / "image" / "excludes.txt"
TOOLS_MOUNT = "/opt/wizpix-build"  # where the build sees uv and the CA bundle
# Python and what it needs beyond Debian's minimal base; media-types stands for
# mime-support, which would bring Perl through mailcap.
BASE_PACKAGES = ("python3.11", "media-types", "ca-certificates")
# Debian's minimal base keeps dpkg's documentation out; copyright files stay (licences).
DPKG_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*")
# uv is lent to the build through the mount, never shipped: the base carries only this
# launcher, which BentoML's Dockerfile finds on PATH.
UV_LAUNCHER = f'#!/bin/sh\nexec {TOOLS_MOUNT}/uv "$@"\n'


def say(message: str) -> None:
    print(f"[image] {message}", flush=True)


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    say("$ " + " ".join(command))
    return subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def bentofile() -> dict:
    return yaml.safe_load((ROOT / "bentofile.yaml").read_text())


def debian_image(name: str, packages: tuple[str, ...], hooks: tuple[str, ...] = ()) -> str:
    """A Debian 12 image from the host's own Debian sources with ``packages`` on the minimal
    base, made once per recipe (its name carries the recipe's digest)."""
    recipe = hashlib.sha256(repr((packages, DPKG_EXCLUDES, hooks)).encode()).hexdigest()[:12]
    image = f"localhost/{name}:bookworm-{recipe}"
    if image_exists(image):
        say(f"{image}: already made")
        return image
    BUILD.mkdir(parents=True, exist_ok=True)
    rootfs = BUILD / f"{name}.tar"
    command = [
        "mmdebstrap",
        "--variant=minbase",
        # merged /usr set up by mmdebstrap itself: the usrmerge package would bring Perl
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        f"--include={','.join(packages)}",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES),
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        *(f"--customize-hook={hook}" for hook in hooks),
        "bookworm",
        str(rootfs),
    ]  # no mirror given: the host's own Debian sources
    started = time.monotonic()
    run(command)
    podman(
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        'CMD ["/bin/bash"]',
        "--message",
        f"Debian 12 minbase with {', '.join(packages)} (mmdebstrap)",
        str(rootfs),
        image,
        timeout=600,
    )
    rootfs.unlink()
    say(f"{image}: made in {time.monotonic() - started:.0f} s")
    return image


def debian_base(config: dict) -> str:
    """The service's base: Python 3.11, the system packages bentofile.yaml lists, and uv's
    launcher."""
    packages = tuple(dict.fromkeys((*BASE_PACKAGES, *config["docker"].get("system_packages", ()))))
    launcher = f"printf '%s' '{UV_LAUNCHER}' > \"$1/usr/local/bin/uv\" && chmod 755 \"$1/usr/local/bin/uv\""
    return debian_image("wizpix-base", packages, (launcher,))


def requirements_in(device: str) -> str:
    """What the image installs before pinning: requirements.txt, with ONNX Runtime's GPU
    build in place of the CPU one for ``cuda`` (they install the same package)."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    if device == "cuda":
        lines = [line for line in lines if not re.match(r"onnxruntime\s*==", line)]
        lines.append(f"-r {ROOT / 'requirements-gpu.txt'}")
    return "\n".join(lines) + "\n"


def pinned_requirements(device: str) -> Path:
    """The runtime requirements, every package pinned, the lock's versions where it has them."""
    source = BUILD / f"requirements-{device}.in"
    pinned = BUILD / f"requirements-{device}.txt"
    text = requirements_in(device)
    inputs = text + (ROOT / "requirements.lock").read_text() + EXCLUDES.read_text()
    key = hashlib.sha256(inputs.encode()).hexdigest()
    stamp = BUILD / f"requirements-{device}.sha256"
    if pinned.exists() and stamp.exists() and stamp.read_text() == key:
        say(f"requirements: {pinned.relative_to(ROOT)} is current")
        return pinned
    source.write_text(text)
    run(
        [str(UV), "pip", "compile", "--quiet", "--python-version", "3.11", "--no-header",
         "--constraints", str(ROOT / "requirements.lock"), "--excludes", str(EXCLUDES),
         str(source), "-o", str(pinned)],
        env={**os.environ, "SSL_CERT_FILE": ca_bundle()},
    )  # fmt: skip
    stamp.write_text(key)
    return pinned


def ca_bundle() -> str:
    """The CA bundle this host trusts (its system store, or what SSL_CERT_FILE names)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    import certifi

    return certifi.where()


def build_bento(base: str, requirements: Path, device: str) -> str:
    config = bentofile()
    config["docker"]["base_image"] = base
    config["python"]["requirements_txt"] = str(requirements.relative_to(ROOT))  # BentoML: relative
    # the list is the whole closure, already resolved: installed as it is (excludes.txt holds)
    config["python"]["pip_args"] = "--no-deps"
    config.setdefault("labels", {})["device"] = device
    generated = BUILD / "bentofile.yaml"
    generated.write_text(
        "# Generated by deploy/image.py from bentofile.yaml: the base and pinned requirements set.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    result = run(
        [str(BENTOML), "build", "-f", str(generated), "--output", "tag", str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    match = re.search(r"__tag__:(\S+)", result.stdout)
    if match is None:
        raise SystemExit(f"bentoml build gave no tag:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return match.group(1)


def containerize(bento: str, tag: str) -> None:
    tools = BUILD / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    for source, name in ((UV, "uv"), (Path(ca_bundle()), "ca-certificates.crt")):
        shutil.copy2(source, tools / name)
    # BentoML's podman backend takes one --opt volume (two are joined into one bad value),
    # hence one folder for both. BentoML 1.4 copies the Bento to a temporary folder and then
    # refuses to read its Dockerfile template from outside the working directory: the
    # temporary folder is made inside it.
    scratch = BUILD / "tmp"
    scratch.mkdir(exist_ok=True)
    run(
        [str(BENTOML), "containerize", bento, "--backend", "podman", "--image-tag", tag,
         "--opt", f"volume={tools}:{TOOLS_MOUNT}:ro",
         "--opt", f"build-arg=SSL_CERT_FILE={TOOLS_MOUNT}/ca-certificates.crt"],
        cwd=ROOT,
        env={**environment(), "TMPDIR": str(scratch)},
    )  # fmt: skip


def report(tag: str) -> None:
    """The image's size, its largest layers and its largest installed packages."""
    print(f"{tag}: {image_size(tag) / 1e6:.0f} MB")
    history = podman("history", "--format", "{{.Size}}\t{{.CreatedBy}}", tag)
    layers = [line.split("\t", 1) for line in history.splitlines() if line.strip()]
    print("largest layers:")
    for size, created in sorted(layers, key=lambda layer: -_bytes(layer[0]))[:6]:
        print(f"  {size:>10}  {created.strip()[:100]}")
    sizes = podman(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", tag, "-c",
        "du -sm /app/.venv/lib/python3.11/site-packages/* $BENTO_PATH/models /usr | sort -rn | head -15",
    )  # fmt: skip
    print("largest parts (MB):")
    for line in sizes.splitlines():
        size, path = line.split("\t")
        print(f"  {size:>6}  {path.replace('/app/.venv/lib/python3.11/site-packages/', '')}")


def _bytes(size: str) -> float:
    number, unit = re.match(r"([\d.]+)\s*([kMG]?B)", size.replace("kB", "kB")).groups()
    return float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default=None, help="the image's name (default wizpix:latest, wizpix:cuda)")
    parser.add_argument("--base", default="", help="a base image of your own with Python 3.11 (and pip)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--report", metavar="IMAGE", help="only report on an image already built")
    args = parser.parse_args(argv)
    if args.report:
        report(args.report)
        return 0
    tag = args.tag or ("wizpix:cuda" if args.device == "cuda" else "wizpix:latest")
    started = time.monotonic()
    BUILD.mkdir(parents=True, exist_ok=True)
    base = args.base or debian_base(bentofile())
    requirements = pinned_requirements(args.device)
    bento = build_bento(base, requirements, args.device)
    try:
        containerize(bento, tag)
    finally:
        subprocess.run([str(BENTOML), "delete", bento, "-y"], capture_output=True)
    say(f"{tag} built in {time.monotonic() - started:.0f} s from {base}")
    report(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
