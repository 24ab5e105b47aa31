"""Prometheus metrics: requests, latency, scores and referrals by port, model in service,
shadow scores and shadow failures by challenger.

Under gunicorn each worker is a process; ``southbound serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` so that /metrics adds up every worker's figures.
"""
from __future__ import annotations

import os
import time

from flask import Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest)

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The service's metric families, in one collector registry."""

    def __init__(self):
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiprocess else CollectorRegistry()
        kw = {"registry": self.registry} if self.registry is not None else {}
        self.requests = Counter("southbound_http_requests_total", "HTTP requests answered",
                                ["endpoint", "method", "status"], **kw)
        self.latency = Histogram("southbound_http_request_seconds", "time to answer",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, **kw)
        self.scores = Counter("southbound_scores_total", "crossings scored",
                              ["port", "band"], **kw)
        # by port only: /metrics takes no token, and a source label (a lookout firing at
        # a port, a random pick) would publish live operations
        self.referrals = Counter("southbound_referrals_total", "crossings referred",
                                 ["port"], **kw)
        self.shadow_scores = Counter("southbound_shadow_scores_total",
                                     "crossings also scored by the challenger in shadow",
                                     ["model_version"], **kw)
        self.shadow_errors = Counter("southbound_shadow_errors_total",
                                     "challenger failures (each drops it from shadow)",
                                     ["model_version"], **kw)
        self.ignored_fields = Counter("southbound_ignored_fields_total",
                                      "request-body fields not part of the API, ignored",
                                      ["endpoint"], **kw)
        gauge_kw = dict(kw, multiprocess_mode="liveall") if self.multiprocess else kw
        self.model = Gauge("southbound_model_info", "the model version in service (1)",
                           ["version"], **gauge_kw)

    def render(self):
        if self.multiprocess:
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def init_app(app):
    metrics = Metrics()
    app.extensions["southbound.metrics"] = metrics

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    children = {}  # (endpoint, method, status) -> (request counter, latency histogram)

    @app.after_request
    def _observe(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        key = (endpoint, request.method, response.status_code)
        pair = children.get(key)
        if pair is None:  # labels() takes a lock and builds a key: once per label set
            pair = children[key] = (metrics.requests.labels(endpoint, key[1], str(key[2])),
                                    metrics.latency.labels(endpoint))
        pair[0].inc()
        pair[1].observe(elapsed)
        g.elapsed = elapsed
        return response


def metrics_response(app):
    # CONTENT_TYPE_LATEST carries its own charset: as ``mimetype`` Werkzeug adds a
    # second one, which Prometheus 3 refuses ("duplicate parameter name")
    return Response(app.extensions["southbound.metrics"].render(),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
