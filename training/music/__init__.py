"""Polyphonic music (issue 18, in progress): the piano-roll data sets and their trivial baselines. Not yet a
registered task: no model, export or endpoint yet."""
