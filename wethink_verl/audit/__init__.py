"""``wethink-verl judge audit``'s engine (the command: cli/judge_audit.py): is a judge fit to grade,
measured on the user's data against the rule verifiers' truth.

- ``candidates``: rows a rule verifier can check, drawn from the data, and per row the gold, the
  gold reworded, wrong answers and injection probes, each with its truth.
- ``measures``: the judge asked about every candidate; agreement, injection resistance, parse
  failures and latency; the fitness checks; the report as a table and a PNG.

It sits above the judge, the reward stack and the data readers (it uses all three), so that the
judge package itself imports none of them.
"""
