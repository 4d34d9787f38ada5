"""WSGI entry point: ``gunicorn -c gunicorn.conf.py app.wsgi:server``."""

from app.factory import create_app

app = create_app()
server = app.server
