"""``wethink-verl report``: read a run's scored rollouts (verl dumps, ``score`` output, metrics logs),
aggregate them streaming, and write one self-contained HTML page with its charts."""
