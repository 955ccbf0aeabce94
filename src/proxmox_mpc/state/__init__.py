"""The state store: tables, alembic migrations, and the Store repository split by seam (see store.py).

Must not import api, services, commands or anything above them; sqlalchemy and sqlmodel load lazily.
"""
