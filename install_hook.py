#!/usr/bin/env python3
"""Install hook.py as the source qBittorrent's "run on torrent finished" program."""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mover.install import main
    sys.exit(main())
