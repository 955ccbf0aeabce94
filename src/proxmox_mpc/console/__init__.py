"""The interactive console: the loop, its slash commands and completion.

It runs command lines through the runner cli hands it, so it never imports cli; services and below never
import it.
"""
