"""The transfer benchmark: ``python -m bench`` (``make bench``).

Self-contained like the tests: it starts its own sshd on loopback
(``bench.sshd``), makes its data sets (``bench.data``), and times, in one
run and on the same data and server, our engines (``bench.engines``: rsync,
sftp, segmented) and the tools a user would otherwise use (``bench.tools``:
scp, rsync -e ssh, lftp) on plain loopback and on an emulated distant link
(``bench.relay``). ``bench.moves`` then times whole moves of the big
torrent (hook.py, sftp pull, two qBittorrent clients from the test harness)
with verify = recheck and with verify = stream. ``bench.report`` prints the
table of MB/s with each engine's ratio to the best baseline of its row and
writes it as JSON under bench/results/.
"""
