"""Spoken digits (issue 19, in progress): audio preprocessing shared by training and serving. Not yet a
registered task: no model yet."""
