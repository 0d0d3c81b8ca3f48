"""Deliverables: each module turns arrays into one kind of file (video, GIF, figures, report)."""
