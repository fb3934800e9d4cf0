"""Vitals training: PhysioNet 2012 ICU stays, the risk and next-hour training script, export and the
evaluation on set-b against SAPS-I and a logistic regression."""
