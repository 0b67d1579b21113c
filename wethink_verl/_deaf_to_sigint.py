"""Imported first by the bounded pool's forkserver (its preload list): from here on the server,
and every worker it forks, ignores SIGINT.

A terminal's Ctrl-C goes to the whole foreground process group; the parent alone decides what
to do with it. The stdlib forkserver ignores SIGINT only after its preload (sympy, math-verify:
seconds), so a Ctrl-C during that import printed a KeyboardInterrupt traceback from the server.
Starting the server with SIGINT ignored does not work from a non-main thread (dispositions are
per process, settable only on the main thread, and a blocked mask does not survive the spawn),
hence this import. Never import it anywhere else: it changes the importing process's SIGINT.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
