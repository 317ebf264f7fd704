"""Contracts shared by the services: event schema, validation, feature definitions, model artifact
format, Redis key layout and settings. Services import from here and never from each other."""
