"""`kyren-conformance derive DOC.md|DIR ... [--out DIR] [--overlay FILE] [--check]`.

Writes DIR/contracts/<name>.json and DIR/schemas/<name>.{request,response}.schema.json, lists the
errata found, and prints the contract's path as its last line. `--check` writes nothing and exits 1
when the files on disk differ from what the document derives (a drift check for CI).

Several documents, or a folder of them, derive in one call: a page that documents no method is
listed as skipped with its reason (a failure only when it was named explicitly). Files are named
after the URL's last segment; when another document already has that name (Auto-Closing.md's URL is
/v1/Result, like Result.md's), they are named after the document's title instead.
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
from kyren_conformance.derive.assemble import derive
from kyren_conformance.derive.derived import Derived, rename
from kyren_conformance.derive.document import DocumentError, NotAMethodDocument, read_text
from kyren_conformance.derive.error_codes import codes_section, read_code_page_file, with_codes
from kyren_conformance.derive.overlay import OverlayError, apply_overlay, read_overlay
from kyren_conformance.usage import INTERNAL_ERROR, NOT_CONFORMANT, USAGE_ERROR, UsageParser

PROG = "kyren-conformance derive"


def _parser() -> UsageParser:
    p = UsageParser(
        prog=PROG,
        description="Derive a method's contract and JSON Schemas from its Kyren document. Contradictions in the "
        "document become numbered errata, marked for review. The last line printed is the contract's path.",
    )
    p.add_argument("documents", nargs="+", metavar="DOC.md|DIR",
                   help="the provider's method documents (markdown), or folders of them")  # fmt: skip
    p.add_argument("--out", metavar="DIR", default=".", help="where contracts/ and schemas/ go (default: .)")
    p.add_argument("--overlay", metavar="FILE", help="a reviewed overlay of decisions no document gives")
    p.add_argument(
        "--codes",
        metavar="FILE",
        help="the provider's Error Code page, the contracts' code table (default: the page titled "
        "'Error Code' beside each document, if there is one)",
    )
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


def _reference(path: Path, out: Path) -> str:
    """A document named relative to the output folder when it lies inside it (a project's docs/), else as the
    user gave it: either way the same command derives the same bytes on any machine."""
    inside = Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
    return inside if not inside.startswith("../") else path.as_posix()


def code_page_beside(document: Path) -> Path | None:
    """The provider's Error Code page in the document's folder: the `.md` file whose title is 'Error Code(s)'."""
    for candidate in sorted(document.parent.glob("*.md")):
        try:
            with candidate.open(encoding="utf-8-sig", errors="replace") as text:
                first = next((line.strip() for line in text if line.strip()), "")
        except OSError:
            continue
        if first.lstrip("#").strip().lower() in ("error code", "error codes") and first.startswith("# "):
            return candidate
    return None


def derive_document(document: Path, out: Path, overlay: Path | None = None, codes: Path | None = None) -> Derived:
    """Read, derive, lay the code table and the overlay over it; raise DocumentError or OverlayError."""
    derived = derive(str(document), read_text(document), _reference(document, out))
    codes = codes or code_page_beside(document)
    if codes is not None:
        section = codes_section(read_code_page_file(codes), _reference(codes, out))
        derived.contract = with_codes(derived.contract, section)
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


def _path(given: str | None) -> Path | None:
    return Path(given) if given else None


def _inputs(arguments: list[str]) -> list[tuple[Path, bool]]:
    """(document, named explicitly) for each argument; a folder gives its `*.md` files, in name order."""
    found: list[tuple[Path, bool]] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += [(doc, False) for doc in sorted(path.glob("*.md")) if doc.is_file()]
        else:
            found.append((path, True))
    return found


def _owner(out: Path, name: str) -> str | None:
    """The document the contract on disk named `name` was derived from ("" when unreadable); None if none."""
    path = out / "contracts" / f"{name}.json"
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["source"]["document"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # a file we cannot read is not ours to overwrite


def _name(derived: Derived, out: Path, taken: dict[str, str]) -> None:
    """Name the files after the URL's segment, else after the title; raise DocumentError if both are taken."""
    document = derived.contract["source"]["document"]

    def free(name: str) -> bool:
        owner = taken.get(name, _owner(out, name))
        return owner is None or owner == document

    if not free(derived.name):
        if not derived.title_name or not free(derived.title_name):
            holder = taken.get(derived.name) or _owner(out, derived.name) or "an unreadable file"
            raise DocumentError(
                f"{document}: its files would be named {derived.name!r} (the URL) or {derived.title_name!r} "
                f"(the title), and both are taken ({derived.name!r} by {holder}); nothing written for it"
            )
        rename(derived, derived.title_name)
    taken[derived.name] = document


def _emit(derived: Derived, out: Path, check: bool, document: Path) -> int:
    files = derived_files(derived, out)
    contract_path = list(files)[-1]
    if check:
        drift = _drift(files)
        print("\n".join(_summary(derived) + drift))
        if drift:
            sys.stderr.write(f"{PROG}: the files differ from what {document} derives (see above)\n")
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


def run_derive(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    inputs = _inputs(args.documents)
    if args.overlay and (len(inputs) != 1 or not inputs[0][1]):
        sys.stderr.write(f"{PROG}: --overlay applies to one document, not {len(inputs)} or a folder\n")
        return USAGE_ERROR
    status = 0
    derived_ones: list[tuple[Derived, Path]] = []
    for document, explicit in inputs:
        try:
            derived_ones.append((derive_document(document, out, _path(args.overlay), _path(args.codes)), document))
        except NotAMethodDocument as exc:
            if explicit:
                sys.stderr.write(f"{PROG}: {exc}\n")
                status = USAGE_ERROR
            else:
                print(f"skipped {exc}")
        except (DocumentError, OverlayError) as exc:
            sys.stderr.write(f"{PROG}: {exc}\n")
            status = USAGE_ERROR
    # the document whose title is the URL's name keeps it (Result.md over Auto-Closing.md, whatever the order)
    derived_ones.sort(key=lambda item: item[0].title_name != item[0].name)
    taken: dict[str, str] = {}
    for derived, document in derived_ones:
        try:
            _name(derived, out, taken)
        except DocumentError as exc:
            sys.stderr.write(f"{PROG}: {exc}\n")
            status = USAGE_ERROR
            continue
        code = _emit(derived, out, args.check, document)
        status = status or code
    return status
