"""Rebuild ecscore/openapi/3gpp-bundle.json from a folder of 3GPP OpenAPI YAML files.

Usage: python scripts/bundle_3gpp_schemas.py [../shared/3gpp-openapi]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecscore.schemas import BUNDLE_PATH, build_bundle
from ecsportal import apis

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "3gpp-openapi"
    bundle = build_bundle(source, apis.bundled_schema_files())
    BUNDLE_PATH.write_text(json.dumps(bundle, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    count = sum(len(doc["components"]["schemas"]) for doc in bundle.values())
    print(f"wrote {BUNDLE_PATH} ({len(bundle)} files, {count} schemas)")
