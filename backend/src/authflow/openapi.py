"""Print the API's OpenAPI schema (the source of the web app's generated types).

python -m authflow.openapi > frontend/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from authflow.config import Settings
from authflow.main import create_app


def main() -> None:
    # The schema needs no database and no real key: build the app without starting it.
    # As in development, so the development-only routes the web app calls (the dev
    # mailbox) get types too; a running test or production API does not serve them.
    with tempfile.TemporaryDirectory() as keys_dir:
        settings = Settings(
            env="development",
            database_url="postgresql://unused@127.0.0.1/unused",
            keys_dir=Path(keys_dir),
        )
        schema = create_app(settings).openapi()
    json.dump(schema, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
