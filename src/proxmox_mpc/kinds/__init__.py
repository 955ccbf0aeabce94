"""Kinds of resources: one pure module per kind (vm, ct, pool, ...) and the registry the pipeline iterates.

Builds on core; must not import httpx, aiohttp, sqlmodel/sqlalchemy, typer, jinja2, rich, prompt_toolkit
or tabulate, nor any layer above it (services, commands, state, api), and performs no I/O.
"""
