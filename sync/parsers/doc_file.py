"""Legacy Word .doc through an external converter found at run time: antiword, else LibreOffice → .docx."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import structlog

from sync.errors import ConverterMissing, ParseError
from sync.parsers.base import Parsed, Parser, decode_text
from sync.parsers.docx_file import parse_docx
from sync.parsers.text_file import parse_text_blocks

log = structlog.get_logger("sync.parsers.doc_file")

INSTALL_HINT = "install antiword (apt-get install antiword) or LibreOffice (apt-get install libreoffice-writer)"
ANTIWORD_TIMEOUT_S = 60
SOFFICE_TIMEOUT_S = 180


def _antiword(exe: str, path: Path) -> Parsed:
    proc = subprocess.run([exe, "-m", "UTF-8.txt", "-w", "0", str(path)], capture_output=True,
                          timeout=ANTIWORD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        raise ParseError(path.name, f"antiword could not read it: {reason}")
    return Parsed(elements=parse_text_blocks(decode_text(proc.stdout, path.name)))


def _soffice(exe: str, path: Path) -> Parsed:
    # A private profile per run: LibreOffice refuses to start while another instance holds the default one.
    with tempfile.TemporaryDirectory(prefix="larkdesk-doc-") as tmp:
        profile = Path(tmp, "profile").as_uri()
        proc = subprocess.run(
            [exe, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "docx", "--outdir", tmp,
             str(path)],
            capture_output=True, timeout=SOFFICE_TIMEOUT_S, check=False,
        )
        converted = Path(tmp, path.stem + ".docx")
        if proc.returncode != 0 or not converted.is_file():
            reason = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
            raise ParseError(path.name, f"LibreOffice could not convert it: {reason}")
        parsed = parse_docx(converted)
    return parsed


def parse_doc(path: Path) -> Parsed:
    antiword = shutil.which("antiword")
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not antiword and not soffice:
        raise ConverterMissing(path.name, "antiword or LibreOffice (soffice)", INSTALL_HINT)
    try:
        if antiword:
            try:
                return _antiword(antiword, path)
            except ParseError:
                if not soffice:
                    raise
                log.warning("doc.antiword_failed", file=path.name, fallback="soffice")
        return _soffice(soffice, path)  # type: ignore[arg-type]
    except subprocess.TimeoutExpired as exc:
        raise ParseError(path.name, f"converter timed out after {exc.timeout:.0f} s") from exc


PARSER = Parser(".doc", "doc", parse_doc)
