"""`zeroplan tune`: an Optuna study over an algorithm's settings on one env.

Each trial trains a fresh agent (no run directory) for `minutes_per_trial`
with settings drawn by Optuna's TPE sampler from a search space: a mapping of
dotted config keys to ranges or choices (`DEFAULT_SPACES`, or a YAML file
checked like a config). A trial's score is the mean of its periodic
evaluation returns, the area under its learning curve per evaluation, so a
setting that learns sooner scores above one that gets as far later. The
running mean is reported at every evaluation, and the pruner (median or
Hyperband) stops trials that fall behind the others at the same env step.

The study lives in its storage (an SQLite file by default) and so survives a
kill: started again with the same storage, it marks the trials that were cut
off as failed, queues their settings again, and runs only the trials still
missing. With `backend="ray"`, trials run as parallel Ray tasks that report
through the same storage.
"""

from zeroplan.tune.space import (DEFAULT_SPACES, Param, Space, SpaceError, build_space, default_space,  # noqa: F401
                                 load_space_file, nested)
from zeroplan.tune.study import (NoEvaluation, _outcome, best_config, finished, make_pruner,  # noqa: F401
                                 open_study, optimise, plot_study, run_trial, trials_table)
