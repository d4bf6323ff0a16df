"""Print-ready A4 letters, and the post room that prints and posts them.

Layout (A4 portrait, folded in three into a DL window envelope):
- the provider's address block top right;
- the customer's address where the envelope window is: 20 mm from the left edge, starting 47 mm
  from the top, at most 85 mm wide and 7 lines (a DL window is about 90 x 35 mm). It stays at
  11 pt even in large print: the window does not grow, and it is read by Royal Mail;
- date, case reference and subject below the window, then the body (the text template).
- Large print (`recipient.large_print`): 16 pt text throughout, except the address in the window.

The built-in PDF fonts (Helvetica) cover Windows-1252 only, and bundling a Unicode font is not
worth it for a letter: anything else in customer text is folded to the nearest Latin letter
("Łukasz" -> "Lukasz") or printed as "?", never a crash.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from channels.base import (
    Clock,
    PermanentDeliveryError,
    ProviderDetails,
    RenderedMessage,
    TransientDeliveryError,
    safe_file_stem,
    transliterate,
    utc_now,
)
from channels.rendering import DEFAULT_PROVIDER, LONDON, london_long_date
from domain.models import ChannelKind, DeliveryReceipt, SendRequest
from ops.private_files import private_dir, private_opener

PAGE_WIDTH_MM = 210
MARGIN_MM = 20
# DL window envelope: window 20 mm from the left; the address starts ~47 mm down the folded A4.
WINDOW_LEFT_MM = 20
WINDOW_TOP_MM = 47
WINDOW_WIDTH_MM = 85
WINDOW_MAX_LINES = 7
ADDRESS_FONT_PT = 11
BODY_TOP_MM = 92

STANDARD_PT = 11
LARGE_PRINT_PT = 16


def _cp1252(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """Text the core fonts can print: Windows-1252, other characters folded or replaced."""
    return transliterate(text, _cp1252)


@dataclass(frozen=True, slots=True)
class LetterPdf:
    content: bytes
    pages: int


class _LetterDocument(FPDF):
    def __init__(self, footer_text: str, footer_pt: float) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = "windows-1252"
        self._footer_text = footer_text
        self._footer_pt = footer_pt

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=self._footer_pt)
        self.cell(0, 6, f"{self._footer_text} - page {self.page_no()} of {{nb}}", align="C")


def recipient_address_lines(request: SendRequest) -> list[str]:
    address = request.recipient.address
    if address is None:
        raise PermanentDeliveryError("letter needs a postal address and the recipient has none")
    lines = [request.recipient.name, *address.lines, address.postcode]
    if address.country.upper() not in ("GB", "UK"):
        lines.append(address.country.upper())
    return lines


class LetterRenderer:
    """Renders a letter PDF from a request and its rendered message."""

    def __init__(self, provider: ProviderDetails = DEFAULT_PROVIDER) -> None:
        self.provider = provider

    def render(self, request: SendRequest, message: RenderedMessage, *, dated: datetime) -> LetterPdf:
        address_lines = recipient_address_lines(request)
        large = request.recipient.large_print
        body_pt = LARGE_PRINT_PT if large else STANDARD_PT
        line_mm = body_pt * 0.45  # ~1.3 x the point size, in mm
        reference = printable(request.context.reference)

        pdf = _LetterDocument(f"Case reference {reference}", LARGE_PRINT_PT if large else 9)
        pdf.set_title(printable(message.subject))
        pdf.set_author(printable(self.provider.name))
        pdf.set_creator("complaints-pipeline")
        pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        pdf.set_auto_page_break(auto=True, margin=25)
        pdf.add_page()

        self._provider_block(pdf, body_pt if large else 10)
        self._address_block(pdf, address_lines)

        pdf.set_xy(MARGIN_MM, BODY_TOP_MM)
        pdf.set_font("Helvetica", size=body_pt)
        pdf.cell(0, line_mm, f"Date: {london_long_date(dated)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.cell(0, line_mm, f"Our reference: {reference}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(line_mm)
        pdf.set_font("Helvetica", style="B", size=body_pt)
        pdf.multi_cell(0, line_mm, printable(message.subject), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(line_mm * 0.5)
        pdf.set_font("Helvetica", size=body_pt)
        pdf.multi_cell(0, line_mm, printable(message.text.rstrip()), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

        content = bytes(pdf.output())
        return LetterPdf(content=content, pages=pdf.pages_count)

    def _provider_block(self, pdf: FPDF, size: float) -> None:
        provider = self.provider
        lines = [
            (True, provider.name),
            *((False, line) for line in provider.address_lines),
            (False, provider.postcode),
            (False, f"Telephone {provider.phone}"),
        ]
        # Right-aligned to the margin, so it never reaches into the envelope window.
        max_width = PAGE_WIDTH_MM - MARGIN_MM - (WINDOW_LEFT_MM + WINDOW_WIDTH_MM + 5)
        y = 12.0
        for bold, text in lines:
            pdf.set_font("Helvetica", style="B" if bold else "", size=size)
            text = _fit(pdf, printable(text), max_width)
            width = pdf.get_string_width(text)
            pdf.set_xy(PAGE_WIDTH_MM - MARGIN_MM - width, y)
            pdf.cell(width, size * 0.45, text)
            y += size * 0.45

    def _address_block(self, pdf: FPDF, lines: list[str]) -> None:
        pdf.set_font("Helvetica", size=ADDRESS_FONT_PT)
        if len(lines) > WINDOW_MAX_LINES:
            # Name, first lines and the postcode matter most to the sorting office.
            lines = [*lines[: WINDOW_MAX_LINES - 1], lines[-1]]
        y = float(WINDOW_TOP_MM)
        for line in lines:
            pdf.set_xy(WINDOW_LEFT_MM, y)
            pdf.cell(WINDOW_WIDTH_MM, 5, _fit(pdf, printable(line), WINDOW_WIDTH_MM - 1))
            y += 5


def _fit(pdf: FPDF, text: str, width_mm: float) -> str:
    """Cut one line to `width_mm` in the current font (an address line must not wrap or spill)."""
    text = " ".join(text.split())
    if pdf.get_string_width(text) <= width_mm:
        return text
    while text and pdf.get_string_width(text + "...") > width_mm:
        text = text[:-1]
    return text.rstrip() + "..."


def write_atomically(path: Path, content: bytes) -> None:
    """Readers (the post room, a mail viewer) never see half a file. mkstemp makes it 0600."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("key", "reference", "recipient_name", "postcode", "pages", "file", "large_print", "created_at")


def _csv_cell(value: str) -> str:
    # A name such as "=HYPERLINK(...)" must stay text when the post room opens the sheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class PostRoomChannel:
    """Letters for the post room: a PDF per letter in a folder per (UK) day, plus a manifest.

    `<post_room_dir>/<YYYY-MM-DD>/<key>.pdf` and `<post_room_dir>/<YYYY-MM-DD>/manifest.csv`
    (key, reference, recipient_name, postcode, pages, file, large_print, created_at). The manifest
    is appended under an exclusive file lock, so several worker processes can share the folder; a
    key already in the day's manifest is not listed twice (a retried send reprints nothing).
    """

    kind = ChannelKind.LETTER

    def __init__(
        self,
        post_room_dir: Path,
        letters: LetterRenderer | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.post_room_dir = Path(post_room_dir)
        self.letters = letters or LetterRenderer()
        self.clock = clock

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        now = self.clock()
        letter = self.letters.render(request, message, dated=now)
        day_dir = self.post_room_dir / now.astimezone(LONDON).date().isoformat()
        path = day_dir / f"{safe_file_stem(request.key)}.pdf"
        try:
            write_atomically(path, letter.content)
            self._append_manifest(day_dir / MANIFEST_NAME, request, letter, path, now)
        except OSError as exc:
            raise TransientDeliveryError(f"post room folder not writable: {exc.strerror}") from None
        return DeliveryReceipt(key=request.key, channel=self.kind, provider_id=str(path), sent_at=now)

    def _append_manifest(
        self, manifest: Path, request: SendRequest, letter: LetterPdf, path: Path, now: datetime
    ) -> None:
        address = request.recipient.address
        assert address is not None  # render() refused a letter without one
        with open(manifest, "a+", newline="", encoding="utf-8", opener=private_opener) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                content = handle.read()
                key = _csv_cell(request.key)
                if content and any(row.get("key") == key for row in csv.DictReader(io.StringIO(content))):
                    return
                writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
                handle.seek(0, os.SEEK_END)
                if not content:
                    writer.writeheader()
                writer.writerow(
                    {
                        "key": _csv_cell(request.key),
                        "reference": _csv_cell(request.context.reference),
                        "recipient_name": _csv_cell(" ".join(request.recipient.name.split())),
                        "postcode": _csv_cell(address.postcode),
                        "pages": letter.pages,
                        "file": path.name,
                        "large_print": "yes" if request.recipient.large_print else "no",
                        "created_at": now.isoformat(),
                    }
                )
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
