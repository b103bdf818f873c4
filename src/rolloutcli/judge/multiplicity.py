"""What alpha covers: one family for every significance-tested tier of every guardrail (pure).

A plan's ``alpha`` bounds the chance that *any* significance-tested tier of *any* guardrail
fires while the treatment is truly within it, over everything ``scope`` covers. The tiers
are tested with the graphical procedure of Bretz et al. (2009), a closed test built from
weighted Bonferroni tests:

* each guardrail with a tested tier starts with an equal share of alpha (all of it with
  ``correction: none``, which makes each guardrail its own family);
* within a guardrail the tested tiers form a chain from the least severe up (warn → pause
  → rollback): a tier is tested only once the tiers before it are rejected, and then
  inherits their whole share. For the usual nested thresholds (pause ``+50%``, rollback
  ``2x``) this costs nothing: a treatment shown to be beyond 2x is beyond +50% too;
* a guardrail with tiers judged on their point estimate puts their guard first in its
  chain (:data:`GUARD`): the test that the treatment is worse than control by half the
  least severe such threshold (``evidence.guard_factor``). Those tiers act only once it is
  rejected, so alpha also bounds the chance that a treatment less than half-way to them
  is paused or warned about on its point estimate;
* with ``correction: holm``, a guardrail whose whole chain is rejected passes its share on
  to the others in equal parts, which for one tier per guardrail is exactly Holm's
  step-down.

The p-values are always-valid (the running minimum of 1/e), so the procedure holds at
every look: a false rejection needs a true hypothesis' p-value below its weight at the
moment the false ones are all gone, and those weights sum to at most one.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from rolloutcli.plan.fields import TIERS

GUARD = "guard"
"""The chain's head for point-estimate tiers: the treatment is less than half-way to the
least severe of them."""
CHAIN = (GUARD, *TIERS)
"""A guardrail's tested hypotheses in the order they are tested."""

Node = tuple[str, str]
"""One tested hypothesis: (guardrail name, tier or :data:`GUARD`)."""


def familywise_levels(
    p_values: Mapping[str, Mapping[str, float]], alpha: float, correction: str
) -> dict[str, dict[str, tuple[float, bool]]]:
    """Per guardrail and tested tier: the level its evidence is held to and whether it is
    rejected. ``p_values`` lists, per guardrail in plan order, each tested tier's
    always-valid p-value (and :data:`GUARD`'s, where it has point-estimate tiers).

    A tier that is not rejected is shown at the level it would be tested at next: the
    guardrail's remaining share (a later tier in the chain inherits it once the earlier
    ones are rejected)."""
    chains = {
        name: [tier for tier in CHAIN if tier in tiers]
        for name, tiers in p_values.items()
        if any(tier in tiers for tier in CHAIN)
    }
    weights, transitions = _graph(chains, correction)
    p = {(name, tier): p_values[name][tier] for name, tiers in chains.items() for tier in tiers}
    rejected, final = _reject(p, weights, transitions, alpha)
    out: dict[str, dict[str, tuple[float, bool]]] = {}
    for name, tiers in chains.items():
        remaining = sum((final[(name, t)] for t in tiers if (name, t) not in rejected), Fraction(0))
        out[name] = {
            tier: (rejected[(name, tier)], True)
            if (name, tier) in rejected
            else (float(remaining * Fraction(alpha)), False)
            for tier in tiers
        }
    return out


def _graph(
    chains: Mapping[str, list[str]], correction: str
) -> tuple[dict[Node, Fraction], dict[Node, dict[Node, Fraction]]]:
    """Initial weights and transitions: each chain's first tier holds the guardrail's
    share and passes it along the chain; with Holm the last passes it to the other
    guardrails' first tiers."""
    k = len(chains)
    share = Fraction(1) if correction == "none" else Fraction(1, max(k, 1))
    weights: dict[Node, Fraction] = {}
    transitions: dict[Node, dict[Node, Fraction]] = {}
    for name, tiers in chains.items():
        for i, tier in enumerate(tiers):
            node = (name, tier)
            weights[node] = share if i == 0 else Fraction(0)
            if i + 1 < len(tiers):
                transitions[node] = {(name, tiers[i + 1]): Fraction(1)}
            elif correction == "holm" and k > 1:
                transitions[node] = {
                    (other, chain[0]): Fraction(1, k - 1)
                    for other, chain in chains.items()
                    if other != name
                }
            else:
                transitions[node] = {}
    return weights, transitions


def _reject(
    p: Mapping[Node, float],
    weights: dict[Node, Fraction],
    transitions: dict[Node, dict[Node, Fraction]],
    alpha: float,
) -> tuple[dict[Node, float], dict[Node, Fraction]]:
    """Bretz et al. (2009), algorithm 1: reject any hypothesis with p ≤ weight·alpha,
    pass its weight along the graph, update the graph, repeat. The set rejected does not
    depend on the order. Returns the level each was rejected at and the final weights."""
    active = set(p)
    w = dict(weights)
    g = {i: dict(transitions.get(i, {})) for i in active}
    rejected: dict[Node, float] = {}
    while True:
        # every hypothesis rejectable now stays so as others go (weights only grow), so a
        # round rejects them all, each at the lowest level it passes
        found = sorted(i for i in active if w[i] > 0 and p[i] <= float(w[i] * Fraction(alpha)))
        if not found:
            return rejected, w
        for node in found:
            rejected[node] = float(w[node] * Fraction(alpha))
        for node in found:
            g = _remove(node, active, w, g)


def _remove(
    found: Node,
    active: set[Node],
    w: dict[Node, Fraction],
    g: dict[Node, dict[Node, Fraction]],
) -> dict[Node, dict[Node, Fraction]]:
    """Take a rejected hypothesis out: its weight flows along its edges and the edges
    through it are joined (updates ``active`` and ``w`` in place; returns the new graph)."""
    active.discard(found)
    out = g.pop(found)
    for node in active:
        w[node] += w[found] * out.get(node, Fraction(0))
    return {
        node: {
            target: _passed(g[node], out, node, target, found)
            for target in active
            if target != node
        }
        for node in active
    }


def _passed(
    edges: Mapping[Node, Fraction],
    out: Mapping[Node, Fraction],
    node: Node,
    target: Node,
    removed: Node,
) -> Fraction:
    """The new weight of the edge node → target once ``removed`` is gone (Bretz et al.
    2009, eq. 4): the direct edge plus the path through ``removed``, renormalised."""
    through = edges.get(removed, Fraction(0))
    back = out.get(node, Fraction(0))
    denominator = 1 - through * back
    if denominator <= 0:
        return Fraction(0)
    return (edges.get(target, Fraction(0)) + through * out.get(target, Fraction(0))) / denominator
