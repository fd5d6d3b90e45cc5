"""Whether pro's mask is fused with fast's, and why: decided once, from the manifest's
measured pairings and PRO_FUSE_FAST.

Fusing two models is better than either alone only where ``make eval`` measured it so
(ISNet with u2netp). A stronger model averaged with a weaker one is likely worse, and a
user who brings a fine-tuned model wants that model's answer: so by default a pair is fused
only when the pro model's manifest entry lists the fast model, never a user's own weights.
PRO_FUSE_FAST=true or false forces it either way, for experiments.
"""

from __future__ import annotations

from dataclasses import dataclass

from wizpix.core.enums import RoleName
from wizpix.core.roles import Role
from wizpix.core.settings import Settings

DEFAULT_GAIN = 3.0


@dataclass(frozen=True)
class Fusion:
    partner: str | None  # the fast model fused with; None: pro serves its own mask
    gain: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"partner": self.partner, "gain": self.gain if self.partner else None, "reason": self.reason}


def fusion_for(settings: Settings, roles: dict[RoleName, Role]) -> Fusion:
    pro, fast = roles[RoleName.PRO], roles[RoleName.FAST]
    pairing = None if fast.model_path else pro.model.pairing(fast.model.name)
    gain = settings.pro_fusion_gain or (pairing.gain if pairing else DEFAULT_GAIN)
    if pro.model_id == fast.model_id:
        return Fusion(None, gain, "the same model serves both tiers")
    if settings.pro_fuse_fast == "false":
        return Fusion(None, gain, "PRO_FUSE_FAST=false")
    if settings.pro_fuse_fast == "true":
        measured = "measured" if pairing and not pro.model_path else "not measured"
        return Fusion(fast.model_id, gain, f"PRO_FUSE_FAST=true forces it ({measured} for this pair)")
    if pro.model_path:
        return Fusion(None, gain, "your own weights are served as their own model (PRO_FUSE_FAST=true fuses)")
    if pairing is None:
        return Fusion(None, gain, f"no measured pairing of {pro.model.name} with {fast.model.name}")
    return Fusion(fast.model_id, gain, f"measured: {pairing.measured}")
