"""Text every wire format can carry.

XML 1.0 has no way to write most C0 control characters (not even as character references), and no encoding can
write a lone surrogate. The validator refuses both in requests; what a reply still quotes (a refused name in an
error message, a key stored before that rule) goes out with each such character replaced by U+FFFD, so that every
reply parses.
"""

from __future__ import annotations

import re

UNCARRIABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def carriable(text: str) -> str:
    return UNCARRIABLE.sub("\ufffd", text)
