"""The method's HTTP method, path and content type, from the document's non-JSON example blocks.

Documents write the endpoint many ways (`POST https://<API URL>/v1/CloseSession`, `{API_URL}/v1/Bet`,
a host without a scheme, a `Content-Type:` header line): the first method, path and content type
found win. Without a METHOD example, POST is assumed (an erratum says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from kyren_conformance.derive.document import DocumentError, MethodDoc
from kyren_conformance.derive.errata import Errata
from kyren_conformance.derive.values import is_json_block

_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass
class Endpoint:
    method: str = ""
    path: str = ""
    content_type: str = ""
    path_line: int = 0
    method_line: int = 0

    def read_line(self, text: str, line: int) -> None:
        """Take what one line of an example block says, where nothing earlier said it."""
        if re.match(r"^\s*[A-Za-z-]+\s*:\s", text) and not re.match(r"^\s*content-type\s*:", text, re.I):
            return  # another header (Accept: application/json) is not a URL
        words = re.sub(r"<[^<>]*>|\{[^{}]*\}", "HOST", text).split()
        if words and words[0].upper() in _HTTP_METHODS and not self.method:
            self.method, self.method_line = words[0].upper(), line
            words = words[1:]
        header = re.match(r"^\s*content-type\s*:\s*(\S.*?)\s*$", text, re.IGNORECASE)
        if header and not self.content_type:
            self.content_type = header.group(1)
            return
        for word in words:
            candidate = _url_path(word)
            if candidate and not self.path and re.fullmatch(r"/[\w.~/-]*", candidate):
                self.path, self.path_line = candidate.rstrip("/") or "/", line


def _url_path(word: str) -> str:
    """The path of a URL (with or without its scheme, `HOST` standing in for a placeholder), else ""."""
    url = urlsplit(word)
    candidate = url.path if url.scheme in ("http", "https") else word if word.startswith("/") else ""
    if not candidate and re.match(r"^(HOST|[\w.-]+\.[a-z]{2,}(:\d+)?)/", word):  # a URL without scheme
        candidate = "/" + word.split("/", 1)[1]
    return candidate


def find_endpoint(doc: MethodDoc, errata: Errata) -> Endpoint:
    """The endpoint the examples show; raise DocumentError without a URL, or for a method without a JSON body."""
    found = Endpoint()
    for block in doc.blocks:
        if is_json_block(block):
            continue
        for offset, text in enumerate(block.text.splitlines(), start=1):
            found.read_line(text, block.line + offset)
    if not found.path:
        raise DocumentError(
            f"{doc.path}: no URL found: expected an example block such as 'https://<API URL>/v1/Method'"
        )
    if not found.method:
        found.method = "POST"
        errata.add("http.method", found.path_line, "no METHOD example", "POST, as every Kyren method with a JSON body")
    elif found.method not in _BODY_METHODS:
        raise DocumentError(
            f"{doc.path}:{found.method_line}: method {found.method}: the suite checks methods that take a JSON body "
            f"({', '.join(_BODY_METHODS)})"
        )
    found.content_type = found.content_type or "application/json"
    return found
