"""The base of pmpc's pydantic models.

A model's validator and serializer are built the first time the model is used, not when its module is
imported: a command imports far more models than it uses (`sync` loads every kind's manifest models to learn
their API paths, `vm list` the output models of every verb), and building them all cost it about 70 ms.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose schema is built on first use (validation, construction, dumping)."""

    model_config = ConfigDict(defer_build=True)
