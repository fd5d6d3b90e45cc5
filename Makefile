# The two commands of the README: `make serve` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
# Models go to BentoML's own store (BENTOML_HOME when set, else BentoML's default), so a
# plain `bentoml models list` / `bentoml build` / `bentoml serve` sees them.
export BENTOML_DO_NOT_TRACK ?= true

.PHONY: install install-gpu models test-models test-tools serve test test-unit bench soak eval lint clean \
	image-tools image test-cuda-image deploy-local deploy-local-down

$(VENV)/.installed: requirements.lock requirements-eval.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-eval.txt
	@# rembg's first import compiles numba kernels (~50 s on 2 cores) and caches them in the
	@# venv: pay that here, not at the fast runner's first start.
	$(PY) -c "import rembg.bg, rembg.sessions"
	touch $@

install: $(VENV)/.installed

# The GPU build of ONNX Runtime instead of the CPU one (see requirements-gpu.txt); then
# DEVICE=cuda make serve fails loudly, naming what is missing, if CUDA cannot be used.
install-gpu: install
	$(PY) -m pip uninstall -y -q onnxruntime
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-gpu.txt

models: install  ## the configured fast and pro models (FAST_MODEL_NAME, PRO_MODEL_NAME)
	$(PY) scripts/fetch_models.py

test-models: install  ## what the test suite runs on, whatever the environment says
	$(PY) scripts/fetch_models.py --model u2netp --model isnet-general-use --model u2net --model modnet-portrait

# A model that cannot be had is reported with the command that fixes it, and the service
# starts all the same: /health says degraded and the fallback rules apply.
serve: install
	$(PY) scripts/fetch_models.py --allow-missing
	$(VENV)/bin/bentoml serve service:WizPix --port $(PORT) --timeout-graceful-shutdown 9

# What the browser and Node client tests need beyond the venv: Debian's Chromium (Playwright
# drives it and never downloads a browser of its own) and Node.js >= 18.
test-tools:
	@command -v chromium >/dev/null && command -v node >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends chromium nodejs; }

test: test-models test-tools image
	$(VENV)/bin/ruff check .
	WIZPIX_IMAGE=$(IMAGE) $(PY) -m pytest

test-unit: install  ## no server, no weights: under a minute
	$(PY) -m pytest tests/unit

# rembg's own server, for the side-by-side benchmark, in a venv of its own.
.venv-rembg/.installed: loadtest/requirements-rembg.txt
	$(PYTHON) -m venv .venv-rembg
	.venv-rembg/bin/python -m pip install --disable-pip-version-check -q -r loadtest/requirements-rembg.txt
	touch $@

BENCH_ARGS ?=
bench: test-models .venv-rembg/.installed image  ## e.g. BENCH_ARGS="--fast-requests 4 --pro-requests 2" for a quick run
	$(PY) loadtest/bench.py --rembg .venv-rembg/bin/rembg $(BENCH_ARGS)
	$(PY) loadtest/deploy_bench.py --image $(IMAGE) --docs

soak: test-models  ## the documented soak: 5 minutes, 8 users; refreshes its section of docs/operations.md
	$(PY) loadtest/soak.py --docs

# Cutout quality against the labelled photos of ../shared/eval (or EVAL_ARGS="--data DIR"),
# through a fresh service and rembg's own sessions; refreshes docs/quality.md. The whole
# sets take hours on 2 cores: EVAL_ARGS="--limit 100" samples each set evenly.
EVAL_ARGS ?=
eval: test-models
	$(PY) loadtest/eval.py --docs $(EVAL_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The service's OCI image, built by Podman from the project's files (deploy/image.py):
# `make image` (wizpix:latest), IMAGE=name:tag, BASE_IMAGE=an image of your own with Python
# 3.11 (else a base is made from Debian's packages), DEVICE=cuda for ONNX Runtime's GPU build.
IMAGE ?= $(if $(filter cuda,$(DEVICE)),wizpix:cuda,wizpix:latest)
BASE_IMAGE ?=
ENGINE_PACKAGES := podman runc netavark aardvark-dns iptables catatonit uidmap mmdebstrap curl iproute2
image-tools:  ## Podman and what it needs on Debian, from Debian's packages
	@[ "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(ENGINE_PACKAGES) 2>/dev/null | grep -c '^ii')" \
	  = "$(words $(ENGINE_PACKAGES))" ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $(ENGINE_PACKAGES); }

image: models image-tools
	$(PY) -m deploy.image --tag $(IMAGE) --device $(if $(filter cuda,$(DEVICE)),cuda,cpu) \
	  $(if $(BASE_IMAGE),--base $(BASE_IMAGE))

# The GPU image on this (GPU-less) machine: degraded, naming the missing driver. Not in
# `make test`: 3.5 GB, its CUDA wheels fetched at build time.
test-cuda-image: test-models
	$(MAKE) image DEVICE=cuda IMAGE=wizpix:cuda
	WIZPIX_CUDA_IMAGE=wizpix:cuda $(PY) -m pytest tests/image/test_cuda_image.py

# deploy/kubernetes.yaml on Podman: the front on localhost:$(PORT), each runner in its own
# containers, HAProxy as the Services (deploy/local.py); deploy-local-down removes it all.
deploy-local: image
	$(PY) -m deploy.local up --image $(IMAGE) --port $(PORT)

deploy-local-down: install
	$(PY) -m deploy.local down

clean:
	rm -rf $(VENV) .venv-rembg .bentoml build models/*.onnx .pytest_cache .ruff_cache
