"""Complaint-level monitoring over scored comments (reads batch output; never imports `train`)."""
