"""Cohorts: the template and its variants, each a full set of scalars and transition probabilities.

A user belongs to one cohort for life. The population is a weighted mixture of cohorts; the default mix
(``DEFAULT_MIX``) was calibrated so that a simulated 225-user, 63-day log profiles like the public mini log
(see the README, "Data: simulator, profile, download"). Behaviour variants make thumbs-down, adverts, errors and downgrades carry churn
risk: grumpy and ad-heavy users see more of them *and* cancel more often.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from producer.simulator import model
from producer.simulator.tables import BEHAVIOUR_VARIANTS, TEMPLATE, TIMING_VARIANTS, State

TEMPLATE_NAME = "Accordion"
COHORT_NAMES: tuple[str, ...] = (TEMPLATE_NAME, *TIMING_VARIANTS, *BEHAVIOUR_VARIANTS)

#: Default population mix (weights need not sum to 1). Calibrated against the mini log.
DEFAULT_MIX: dict[str, float] = {
    "Accordion": 0.24,  # the template
    "Horn": 0.10,  # template behaviour, sessions every 3 days
    "Whistle": 0.10,  # happy
    "Xylophone": 0.07,  # very happy
    "Yu": 0.13,  # grumpy
    "Zither": 0.09,  # very grumpy
    "Marimba": 0.09,  # error-prone
    "Piano": 0.06,  # adverts+, cancellation+
    "Saxophone": 0.04,  # adverts+++, cancellation++, upgrade++
    "Nagara": 0.04,  # ad-heavy
    "Tuba": 0.04,  # adverts++++, cancellation+++
}


@dataclass(frozen=True)
class Cohort:
    name: str
    alpha_s: float = model.ALPHA_S
    beta_s: float = model.BETA_S
    damping: float = model.DAMPING
    weekend_damping: float = model.WEEKEND_DAMPING
    transitions: dict[State, tuple[tuple[State, float], ...]] = field(default_factory=dict, repr=False)


class CohortError(ValueError):
    """A cohort mix names an unknown cohort or has a bad weight; the message is one line."""


@lru_cache(maxsize=None)
def get_cohort(name: str) -> Cohort:
    """The named cohort: template transitions with the variant's changes applied."""
    if name not in COHORT_NAMES:
        raise CohortError(f"unknown cohort {name!r} (known: {', '.join(COHORT_NAMES)})")
    table = {src: dict(dests) for src, dests in TEMPLATE.items()}
    scalars: dict[str, float] = {}
    if name in TIMING_VARIANTS:
        scalars = {k: v for k, v in TIMING_VARIANTS[name].items()}
        scalars = {{"alpha": "alpha_s", "beta": "beta_s"}.get(k, k): v for k, v in scalars.items()}
    elif name in BEHAVIOUR_VARIANTS:
        for src, dest, p in BEHAVIOUR_VARIANTS[name][1]:
            table[src][dest] = p
    frozen = {src: tuple((d, p) for d, p in dests.items() if p > 0) for src, dests in table.items()}
    for src, dests in frozen.items():
        total = sum(p for _, p in dests)
        if total > 1 + 1e-9:
            raise CohortError(f"cohort {name}: transitions out of {src} sum to {total:.4f} > 1")
    return Cohort(name=name, transitions=frozen, **scalars)


def parse_mix(text: str | None) -> dict[str, float]:
    """Parse ``name=weight,name=weight`` (or ``default``/empty for ``DEFAULT_MIX``) into normalised weights."""
    if not text or text.strip() == "default":
        mix = dict(DEFAULT_MIX)
    else:
        mix = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, weight = part.partition("=")
            name = name.strip()
            try:
                w = float(weight) if sep else 1.0
            except ValueError:
                raise CohortError(f"cohort weight {weight!r} for {name} is not a number") from None
            if not w >= 0:
                raise CohortError(f"cohort weight for {name} must be >= 0")
            get_cohort(name)  # validates the name
            mix[name] = mix.get(name, 0.0) + w
    total = sum(mix.values())
    if total <= 0:
        raise CohortError("cohort weights sum to 0")
    return {k: v / total for k, v in mix.items() if v > 0}
