"""Delivery Health: a self-hosted dashboard of software-delivery health."""

__version__ = "0.1.0"
