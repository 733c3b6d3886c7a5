"""The exercises: each lab as data (<name>/exercise.json: steps per role, points, limits),
the model the checks are derived from (steps), loading one (loader), the default lab (default),
and grading an exercise's own programs (selftest)."""
