"""The ceiling: a bare FastAPI + uvicorn app that only parses JSON and calls ``model.predict``.

No validation, no logging, no metrics: what a hand-written minimal service would do. Run as
``BENCH_MODEL=model.pkl uvicorn bare_app:app --workers 1``.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request

with open(os.environ["BENCH_MODEL"], "rb") as fh:
    model = pickle.load(fh)  # the benchmark's own file, written by run.py

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request) -> dict[str, Any]:
    payload = await request.json()
    frame = pd.DataFrame.from_records(payload["instances"])
    return {"predictions": model.predict(frame).tolist()}
