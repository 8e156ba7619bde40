"""MuZero: episodes, self-play, replay, reanalyse, learner and the agent."""
