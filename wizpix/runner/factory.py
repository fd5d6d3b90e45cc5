"""A runner's slot for its role: where the weights come from and which kind runs them."""

from __future__ import annotations

import logging
from functools import partial

from wizpix.core.roles import Role
from wizpix.core.settings import Settings
from wizpix.runner.kinds import KINDS, MaskModel
from wizpix.runner.slot import ModelSlot
from wizpix.weights.store import Weights, resolve_weights

log = logging.getLogger(__name__)


def build_model(role: Role, weights: Weights | None) -> MaskModel:
    kind = KINDS.get(role.model.kind)
    if kind is None:
        raise ValueError(f"{role.model.name}: unknown kind {role.model.kind!r} (known: {', '.join(KINDS)})")
    return kind(role, weights)


def build_slot(role: Role, settings: Settings) -> ModelSlot:
    if not role.model.commercial_use:
        log.warning("%s=%s: NON-COMMERCIAL weights (%s)", role.variable, role.model.name, role.model.licence)
    if role.store_name is None:  # nothing to fetch (mock)
        resolve = lambda: None  # noqa: E731
    else:
        resolve = partial(resolve_weights, role, settings.model_dir, settings.allow_remote_download)
    return ModelSlot(
        role.name,
        role.model_id,
        resolve,
        partial(build_model, role),
        warmup_on_startup=settings.warmup_on_startup,
        warmup_blocking=settings.warmup_blocking,
        trim_after_batch=role.store_name is not None and not role.memory_arena,
    )
