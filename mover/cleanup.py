"""Remove a moved torrent from the source, keeping files other torrents use.

Cross-seeds share data: two torrents can name the same files. When another
source torrent uses any of the moved torrent's files, the torrent is removed
without its files and only the unshared files are deleted by us.
"""

import logging
import posixpath
from typing import List

from mover import plan as plans
from mover.endpoints import Endpoint
from mover.qbit import Qbit, Torrent, TorrentGoneError

log = logging.getLogger("mover.cleanup")


def _overlaps(a: Torrent, b: Torrent) -> bool:
    """True if the two torrents' content could share files (cheap pre-filter)."""
    pa, pb = posixpath.normpath(a.content_path or a.save_path), \
        posixpath.normpath(b.content_path or b.save_path)
    sa, sb = posixpath.normpath(a.save_path), posixpath.normpath(b.save_path)
    return sa == sb or pa == pb or pa.startswith(pb + "/") or pb.startswith(pa + "/")


def shared_paths(client: Qbit, torrent: Torrent, plan: plans.Plan) -> List[str]:
    """Return the plan's source files that another torrent on ``client`` uses."""
    others = []
    for other in client.torrents():
        if other.hash != torrent.hash and _overlaps(torrent, other):
            try:
                names = [f.name for f in client.files(other.hash)]
            except TorrentGoneError:
                continue   # removed meanwhile (a parallel move, the user): uses no file now
            others.append((other.save_path, names))
    return plans.shared_files(plan, others)


def files_to_delete(plan: plans.Plan, shared: List[str]) -> List[str]:
    """Return the plan's source paths that are not in ``shared``."""
    keep = set(shared)
    return [f.src for f in plan.files if posixpath.normpath(f.src) not in keep]


def delete_files(endpoint: Endpoint, paths: List[str], save_path: str) -> None:
    """Delete ``paths`` on ``endpoint`` and prune folders left empty under ``save_path``."""
    for path in paths:
        endpoint.remove(path)
        endpoint.prune_dirs(posixpath.dirname(path), save_path)
