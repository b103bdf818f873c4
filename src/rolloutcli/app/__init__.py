"""Use cases: evaluate a plan, apply a change, one watch round, kill, suggest a plan.

Orchestrates platforms/, metrics/, journal/ and the pure judge/ below it."""
