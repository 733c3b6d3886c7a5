"""Lab day: tools for the lab itself, beside grading: watch mode, the grader as a partner on
the real network, a pair of students' programs against each other, tougher counterparts."""
