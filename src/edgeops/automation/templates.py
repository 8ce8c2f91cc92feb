"""Starting workflows for `edgeops workflow new`: YAML with a comment on every part.

RECIPE_FILE is replaced by the recipe path (not str.format: YAML braces are everywhere)."""

RETRAIN = """\
# A workflow: steps that run in order of their inputs, started by the triggers below.
# Its version is the hash of its canonical form (recipes named here are inlined when stored).
name: retrain
description: Retrain on fresh data, test against production, ask a person, promote.
concurrency: 1                  # runs of this workflow at a time; more wait in the queue

triggers:
  - type: manual                # `edgeops workflow run retrain` or POST …/workflows/retrain/runs
  - type: schedule              # cron: minute hour day month weekday, in the time zone
    cron: "0 3 * * 1"
    timezone: UTC
  - type: data                  # enough new samples, once uploads have been quiet a while
    new_samples: 100
    debounce: 30m
  - type: alert                 # a monitor found drift
    kind: drift
    severity: warning

steps:
  - id: data
    type: commit-data           # snapshot the samples (reuses the newest version if unchanged)
  - id: check
    type: validate-data
    with: {min_per_label: 10}
  - id: train
    type: train                 # skipped when this recipe, data and seed were trained before
    with:
      recipe: RECIPE_FILE
      data: ${data.version}
      seed: 0
  - id: gate                    # the candidate against production on the same testing split
    type: gate
    with:
      candidate: ${train.model}
      baseline: production
      max_accuracy_drop: 0.0
      min_recall: 0.5
  - id: approve
    type: approve               # `edgeops runs approve RUN` by an ml-engineer (or admin)
    with: {role: ml-engineer, timeout: 24h}
  - id: promote
    type: promote
    with: {model: "${train.model}", alias: production}
  - id: tell
    type: notify
    with: {message: "promoted ${promote.model} (was ${promote.before})"}
"""

TEMPLATES = {"retrain": RETRAIN}
