"""The session tracker: keeps each session's status, process and pane true from processes.

Process identity and ancestry, the finders that pair processes with sessions (Claude
Code's hooks, orchestrators' registrations, the agents' own records, directory
attribution, tmux panes), exit detection, the spool that the ``hook`` and ``register``
commands write, and the pure status decision.
"""
