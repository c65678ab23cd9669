"""A real MLflow tracking and registry store for tests: an SQLite file that MLflow's own client
writes (its SQLAlchemy store), and helpers that log runs with dataset inputs and register versions
as a training pipeline does. Also an HTTP server that answers 500 to everything (our fake of an
MLflow server in trouble) and a port where nothing listens (one that is down)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd


def frame(rows: int = 20, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"age": [20 + (i * 7 + seed) % 50 for i in range(rows)], "approved": [i % 2 for i in range(rows)]}
    )


def log_model(uri: str, name: str, inputs=(), *, user: str = "") -> str:
    """Log a run reading ``inputs`` ([(DataFrame, source, digest or None)]) and register a version of
    model ``name`` from it → the version number."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, InputTag

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("training") or None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("training")
    run = client.create_run(experiment_id, tags={"mlflow.user": user} if user else None)
    entities = []
    for df, source, digest in inputs:
        dataset = mlflow.data.from_pandas(df, source=source, name="train", digest=digest)
        entities.append(
            DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])
        )
    if entities:
        client.log_inputs(run.info.run_id, datasets=entities)
    client.set_terminated(run.info.run_id)
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name)
    mv = client.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return str(mv.version)


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Answer500(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        body = b'{"error_code": "INTERNAL_ERROR", "message": "database is on fire"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _fail

    def log_message(self, *args) -> None:
        pass


class Failing:
    """An HTTP server on a loopback port that answers every request with 500."""

    def __enter__(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer500)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
