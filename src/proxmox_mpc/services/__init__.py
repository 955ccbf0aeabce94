"""Async use cases that join the API client, the state store and the pure core.

Services never print, prompt or exit: they return models and raise PmpcError; confirmation and
progress reach them as callbacks. Must not import typer, prompt_toolkit, console or commands.
"""
