"""Running a program: the file checked, started under the probe in a bounded copy of its
folder, the reference counterpart, the session that decides when the outcome is settled, and
stopping every process (launch, session, runner, processes, sandbox, probe, peers)."""
