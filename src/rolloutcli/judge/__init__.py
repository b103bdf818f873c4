"""Pure decision: flag state, observations, position in the rollout, findings, the verdict,
the automation policy. No I/O."""
