"""Shared pytest set-up: import paths and a clean environment for the SDK."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(HERE)
# .../ansible_collections/dtsops/switchover -> the directory that holds ansible_collections
BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))

for path in (BUILD_ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

# The SDK sends requests to a proxy whenever these are set, even for 127.0.0.1.
for var in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy'):
    os.environ.pop(var, None)
os.environ.setdefault('ALIBABA_CLOUD_ECS_METADATA_DISABLED', 'true')
