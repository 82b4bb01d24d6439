"""Local rehearsals of a switchover (``make demo``, ``make rehearsal``): throwaway source and
destination servers, the DTS emulator replicating between them for real, an application that
keeps writing, and the collection's playbook run as an operator runs it. See docs/rehearsal.md."""
