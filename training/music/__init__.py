"""Polyphonic music: the piano-roll data sets, their trivial baselines, training and export."""
