"""Local rehearsals of a switchover (``make demo``): the DTS emulator as a process, and the
collection's modules run through ansible-playbook against it."""
