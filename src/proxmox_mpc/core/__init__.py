"""Pure domain logic: models, selectors, diffing, ordering, UPID parsing.

Must not import httpx, aiohttp, sqlmodel/sqlalchemy, typer, jinja2, rich, prompt_toolkit or tabulate,
and performs no I/O at all.
"""
