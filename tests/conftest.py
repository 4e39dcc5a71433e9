"""Fixtures shared by every test folder."""

pytest_plugins = ("vmop.dev.pytest_plugin",)
