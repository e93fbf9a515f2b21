"""Write a `.po` file from a Python dict of key -> text (used once to seed translations)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po


def main() -> None:
    source, name, locale, target = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    messages = runpy.run_path(source)[name]
    catalog = Catalog(locale=locale, project="smm-storefront", domain="messages")
    for key, text in messages.items():
        catalog.add(key, text)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=False)


if __name__ == "__main__":
    main()
