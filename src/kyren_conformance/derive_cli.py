"""`kyren-conformance derive DOC.md [--out DIR] [--overlay FILE] [--check]`.

Writes DIR/contracts/<name>.json and DIR/schemas/<name>.{request,response}.schema.json, lists the
errata found, and prints the contract's path as its last line. `--check` writes nothing and exits 1
when the files on disk differ from what the document derives (a drift check for CI).
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from kyren_conformance.contract import ContractError, load_contract
from kyren_conformance.derive import Derived, derive
from kyren_conformance.derive_overlay import OverlayError, apply_overlay, read_overlay
from kyren_conformance.method_doc import DocumentError
from kyren_conformance.usage import INTERNAL_ERROR, NOT_CONFORMANT, USAGE_ERROR, UsageParser

PROG = "kyren-conformance derive"


def _parser() -> UsageParser:
    p = UsageParser(
        prog=PROG,
        description="Derive a method's contract and JSON Schemas from its Kyren document. Contradictions in the "
        "document become numbered errata, marked for review. The last line printed is the contract's path.",
    )
    p.add_argument("document", metavar="DOC.md", help="the provider's method document (markdown)")
    p.add_argument("--out", metavar="DIR", default=".", help="where contracts/ and schemas/ go (default: .)")
    p.add_argument("--overlay", metavar="FILE", help="a reviewed overlay of decisions no document gives")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files on disk differ")
    return p


def render(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def derived_files(derived: Derived, out: Path) -> dict[Path, str]:
    """Each output file and its text."""
    contract = derived.contract
    return {
        out / "schemas" / contract["schemas"]["request"]: render(derived.request_schema),
        out / "schemas" / contract["schemas"]["response"]: render(derived.response_schema),
        out / "contracts" / f"{derived.name}.json": render(contract),
    }


def derive_document(document: Path, out: Path, overlay: Path | None = None) -> Derived:
    """Read, derive and overlay; raise DocumentError or OverlayError with the one line to show."""
    try:
        raw = document.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{document}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DocumentError(f"{document}:{line}: not UTF-8 (byte {raw[exc.start]:#04x})") from None
    # The contract names its document relative to the output folder when it lies inside it (a project's
    # docs/), else as the user gave it: either way the same command derives the same bytes on any machine.
    inside = Path(os.path.relpath(document.resolve(), out.resolve())).as_posix()
    reference = inside if not inside.startswith("../") else document.as_posix()
    derived = derive(str(document), text, reference)
    if overlay is not None:
        apply_overlay(derived, read_overlay(overlay), str(overlay))
    return derived


def _write(path: Path, text: str) -> None:
    """Atomically: an interrupted derive leaves the old file, never half a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def _drift(files: dict[Path, str]) -> list[str]:
    lines = []
    for path, text in files.items():
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            lines.append(f"missing: {path}")
            continue
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), str(path), "derived", lineterm="", n=1)
            lines += [f"differs: {path}", *list(diff)[:40]]
    return lines


def _summary(derived: Derived) -> list[str]:
    contract = derived.contract
    http = contract["http"]
    lines = [
        f"{contract['title']}: {http['method']} {http['path']}, {len(contract['fields'])} request fields, "
        f"result code {contract['result']['code_field']} = {contract['result']['success_code']} on success"
    ]
    for e in contract["errata"]:  # in id order, overlay or not
        if "key" not in e:
            continue  # a policy from the overlay, not something found in the document
        mark = "needs review" if e.get("review") else "reviewed"
        lines.append(f"{e['id']} (line {e['line']}, {mark}): {e['document']} -> {e['decision']}")
    return lines


def run_derive(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    try:
        derived = derive_document(Path(args.document), out, Path(args.overlay) if args.overlay else None)
    except (DocumentError, OverlayError) as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return USAGE_ERROR
    files = derived_files(derived, out)
    contract_path = list(files)[-1]
    if args.check:
        drift = _drift(files)
        print("\n".join(_summary(derived) + drift))
        if drift:
            sys.stderr.write(f"{PROG}: the files differ from what {args.document} derives (see above)\n")
            return NOT_CONFORMANT
        print(f"up to date: {', '.join(str(p) for p in files)}")
        print(contract_path)
        return 0
    try:  # written before anything is printed: a closed pipe on stdout loses nothing
        for path, text in files.items():
            _write(path, text)
    except OSError as exc:
        sys.stderr.write(f"{PROG}: cannot write {exc.filename or out}: {exc.strerror or exc}\n")
        return USAGE_ERROR
    try:
        load_contract(contract_path)
    except ContractError as exc:  # derive's own output must load: anything else is our bug
        sys.stderr.write(f"{PROG}: internal error: the derived contract does not load: {exc}\n")
        return INTERNAL_ERROR
    print("\n".join(_summary(derived)))
    for path in list(files)[:-1]:
        print(f"wrote {path}")
    print(contract_path)
    return 0
