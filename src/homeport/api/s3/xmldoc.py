"""S3's XML: the replies the S3 face renders and the few request documents it reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any
from xml.sax.saxutils import escape

from homeport.api.text import carriable
from homeport.errors import MalformedXML

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_REQUEST_XML = 2 * 1024 * 1024  # a DeleteObjects of 1,000 long keys fits; more is refused unread

Node = tuple[str, Any]  # (tag, text | number | bool | list of Nodes | None to skip)


def document(root: str, children: Iterable[Node], namespace: bool = True) -> bytes:
    xmlns = f' xmlns="{NAMESPACE}"' if namespace else ""
    return _HEAD + f"<{root}{xmlns}>{_render(children)}</{root}>".encode()


def _render(children: Iterable[Node]) -> str:
    out = []
    for tag, value in children:
        if value is None:
            continue
        if isinstance(value, list):
            out.append(f"<{tag}>{_render(value)}</{tag}>")
        elif isinstance(value, bool):
            out.append(f"<{tag}>{'true' if value else 'false'}</{tag}>")
        else:
            out.append(f"<{tag}>{escape(carriable(str(value)))}</{tag}>")
    return "".join(out)


def http_date(when: float) -> str:
    return formatdate(when, usegmt=True)


def parse(body: bytes, root: str) -> ET.Element:
    """A request document whose root is `root` (namespace optional); MalformedXML otherwise."""
    try:
        element = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedXML(
            f"The XML you provided was not well-formed or did not validate against our published schema ({exc})."
        ) from None
    if _local(element.tag) != root:
        raise MalformedXML(f"The XML you provided has root element <{_local(element.tag)}>; expected <{root}>.")
    return element


def children(element: ET.Element, tag: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == tag]


def text(element: ET.Element, tag: str) -> str | None:
    found = children(element, tag)
    return (found[0].text or "") if found else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
