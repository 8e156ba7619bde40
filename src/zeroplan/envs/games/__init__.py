"""Fast native board games implementing `envs.spec.TurnBasedEnv` directly."""
