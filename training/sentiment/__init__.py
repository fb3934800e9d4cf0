"""Sentiment training: SST-2 data, a MiniLM teacher and word vectors, the student training script and its export."""
