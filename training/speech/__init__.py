"""Spoken digits (issue 19, in progress): the Free Spoken Digit Dataset and its speaker-independent splits."""
