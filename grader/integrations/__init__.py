"""The course's tools: Gradescope (autograder zip and its run), GitHub Classroom (the
workflow), Canvas (the Gradebook import file)."""
