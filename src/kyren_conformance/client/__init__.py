"""The HTTP client: the only code that touches the network, and it redacts before it builds an Exchange.

The rest of the suite uses what is exported here; the modules behind it are the client's own.
"""

from kyren_conformance.client.client import (
    Client,
    ClientSettings,
    check_target_url,
    describe_failure,
    read_extra_ca,
    retry_after,
)

__all__ = ["Client", "ClientSettings", "check_target_url", "describe_failure", "read_extra_ca", "retry_after"]
