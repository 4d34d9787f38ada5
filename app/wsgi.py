"""WSGI entry point: ``gunicorn -c gunicorn.conf.py app.wsgi:server``.

With ``STARBOARD_BACKGROUND=celery``, background callbacks run on Celery workers started with
``celery -A app.wsgi:celery_app worker`` (the same app, so the same callbacks).
"""

from app.core.background import celery_app_of
from app.factory import create_app

app = create_app()
server = app.server
celery_app = celery_app_of(app)
