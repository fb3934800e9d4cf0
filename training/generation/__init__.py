"""Generation training: Tiny Shakespeare, truncated-BPTT training of character models, step-capable export
and the Kneser-Ney baseline."""
