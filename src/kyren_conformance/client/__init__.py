"""The HTTP client: the only code that touches the network, and it redacts before it builds an Exchange.

The rest of the suite uses what is exported here; the modules behind it are the client's own: client.py
sends, deadline.py ends a send at its deadline, failures.py words why no answer came, target.py checks the
target URL and a private CA bundle before anything is sent.
"""

from kyren_conformance.client.client import Client, ClientSettings, retry_after
from kyren_conformance.client.failures import describe_failure
from kyren_conformance.client.target import check_target_url, read_extra_ca

__all__ = ["Client", "ClientSettings", "check_target_url", "describe_failure", "read_extra_ca", "retry_after"]
