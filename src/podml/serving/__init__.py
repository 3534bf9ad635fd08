"""The model server: `python -m podml.serving` (the pod contract in DESIGN.md).

`contract` (the `LoadedModel` a loader returns) → `dataplane` (protocol-agnostic work and typed errors)
→ `app` (the ASGI adapter: REST and the Open Inference Protocol V2) → `server` (settings from the
environment, download, load, run). Nothing here imports the platform's web side.
"""
