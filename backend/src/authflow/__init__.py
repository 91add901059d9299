"""Authflow: the authentication flow for Next.js + FastAPI + PostgreSQL."""
