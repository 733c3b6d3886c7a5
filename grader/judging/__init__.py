"""Judging a run: the check engine and the judges of each step kind (checks/), the facts a
trace answers, line matching, hints, the timeline, and the results they make."""
