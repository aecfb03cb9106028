"""The one error hierarchy of torrent-mover.

Every failure a user can meet is a MoverError whose message says what went
wrong and what to do. The CLI catches MoverError in one place, prints the
message (no traceback) and exits with ``exit_code``.

Kinds (``kind``) follow what the user must do about it:
- ``config``: the config file or a command-line argument is wrong (exit 2);
- ``provisioning``: the set-up must be fixed: permissions, paths, keys, space;
- ``transfer``: the network or a server failed; worth retrying (``retryable``);
- ``client``: a qBittorrent Web API could not be used;
- ``verification``: the destination did not verify the data.
"""


class MoverError(Exception):
    """Base of every error meant for the user."""

    exit_code = 1
    kind = "error"
    retryable = False


class ConfigError(MoverError):
    """The configuration or a command-line argument is invalid."""

    exit_code = 2
    kind = "config"


class UsageError(ConfigError):
    """The command line is wrong (bad hash, conflicting flags)."""


class ClientError(MoverError):
    """A qBittorrent Web API call failed (unreachable, refused, odd answer)."""

    kind = "client"


class ClientAuthError(ClientError):
    """qBittorrent refused the username or password from the config."""

    exit_code = 2


class ProvisioningError(MoverError):
    """Something in the set-up must be fixed: permissions, paths, keys, space."""

    kind = "provisioning"


class HostKeyError(ProvisioningError):
    """An SSH host key is missing from known_hosts or does not match it."""


class NoSpaceError(ProvisioningError):
    """The destination (or the cache) cannot hold the data still to move."""


class TransferError(MoverError):
    """The network or a server failed during a transfer; a retry may succeed."""

    kind = "transfer"
    retryable = True


class StalledError(TransferError):
    """No progress for longer than the watchdog allows."""


class VerificationError(MoverError):
    """The destination client did not report the torrent 100% after a recheck."""

    kind = "verification"


class BusyError(MoverError):
    """Another process holds the lock for this torrent; nothing was done."""

    exit_code = 0
    kind = "busy"


class QueuedError(MoverError):
    """No transfer slot came free in time; the torrent waits for the next sweep."""

    exit_code = 0
    kind = "queued"
