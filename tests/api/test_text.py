"""What every wire format can carry."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from homeport.api.text import carriable


def test_uncarriable_characters_become_the_replacement_character_and_the_rest_stays() -> None:
    assert carriable("a\x00b\udfffc\x1f") == "a\ufffdb\ufffdc\ufffd"
    kept = "tab\tnewline\nreturn\r é 漢 \U0001f600 \x7f"
    assert carriable(kept) == kept
    ET.fromstring(f"<m>{carriable(''.join(map(chr, range(0x20))))}</m>")  # parses


def test_an_s3_document_echoing_a_nul_parses() -> None:
    from homeport.api.s3.xmldoc import document

    root = ET.fromstring(document("ListBucketResult", [("StartAfter", "\x00"), ("Prefix", "p\udfff")]))
    assert [child.text for child in root] == ["\ufffd", "p\ufffd"]
