"""Inference: the predictor and (later) replies and the HTTP app. Never imports `triage.train`."""
