"""gunicorn settings for production mode (gunicorn -c gunicorn.conf.py ecsportal.wsgi).

Threaded workers: a provisioning request may wait on partner ECSs (up to their timeout), and
threads keep the other requests of that worker moving meanwhile.  Each knob can be set from
the environment.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so that no slow leak can grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# A request id in every access log line, the one X-Request-ID returns.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s'

# gthread reads a request's body on a blocking socket without a timeout: a client that
# announces a Content-Length and never sends it would hold a thread (and its connection)
# forever.  Each read of the body (and each write of the answer) may wait this long; then the
# read fails, the request is answered 408 and the connection closed.
body_timeout = float(os.environ.get("GUNICORN_BODY_TIMEOUT", str(min(10, timeout))))


def pre_request(worker, req):
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None:
        sock.settimeout(body_timeout)


def post_worker_init(worker):
    # The in-memory inventory index builds as the worker starts, not in its first requests
    # (which the SQL matcher answers meanwhile).
    from provisioning import inventory

    inventory.index.start()


def worker_exit(server, worker):
    # What the worker's requests queued to write (audit rows, hit counters) is written
    # before it goes: a restart or a scale-down loses none.
    from ecscore import writebehind

    writebehind.flush()
