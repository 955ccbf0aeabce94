"""Thin Typer command modules: parse, call one service, print.

Only cli, console and commands import typer or prompt_toolkit.
"""
