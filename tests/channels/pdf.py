"""Reading letters back: text, and where and how large each piece of it is printed."""

from __future__ import annotations

import io
from dataclasses import dataclass

from pypdf import PdfReader

MM_PER_PT = 25.4 / 72
A4_HEIGHT_MM = 297


@dataclass(frozen=True)
class PrintedText:
    text: str
    page: int
    x_mm: float  # from the left edge
    baseline_mm: float  # from the top edge
    size_pt: float


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def page_count(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


def printed_text(content: bytes) -> list[PrintedText]:
    found: list[PrintedText] = []
    for number, page in enumerate(PdfReader(io.BytesIO(content)).pages, start=1):

        def visit(text, cm, tm, font_dict, font_size, number=number):
            if text.strip():
                found.append(
                    PrintedText(
                        text=text.strip(),
                        page=number,
                        x_mm=tm[4] * MM_PER_PT,
                        baseline_mm=A4_HEIGHT_MM - tm[5] * MM_PER_PT,
                        size_pt=font_size,
                    )
                )

        page.extract_text(visitor_text=visit)
    return found
