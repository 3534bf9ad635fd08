"""The bare FastAPI + joblib endpoint a user writes by hand: `MODEL_PATH` names the joblib file.

    uvicorn fastapi_app:app --app-dir bench/serving_peers --loop uvloop --http httptools

Run by `bench/serving.py` in the peers' virtualenv (FastAPI, uvicorn, scikit-learn at the project's
version). `async def`, so a request is answered on the event loop without a thread hop: the faster
of the two ways to write it.
"""

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ["MODEL_PATH"])
app = FastAPI()


class Instances(BaseModel):
    instances: list[list[float]]


@app.post("/predict")
async def predict(body: Instances) -> dict[str, list[float]]:
    return {"predictions": model.predict(np.asarray(body.instances)).tolist()}
