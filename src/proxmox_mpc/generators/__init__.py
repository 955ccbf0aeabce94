"""Generators: render Terraform, Ansible and test suites from GenerateInputs as {relative path: text}.

Pure apart from reading the package's templates: no network, no files written (services write them).
Must not import api, state, services, output, commands, typer or prompt_toolkit.
"""
