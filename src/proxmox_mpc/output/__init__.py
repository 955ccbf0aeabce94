"""Printers for stdout data (table, wide, json, yaml, name, custom-columns) and stderr progress.

May import core and errors; must not import api, state, services or CLI libraries.
"""
