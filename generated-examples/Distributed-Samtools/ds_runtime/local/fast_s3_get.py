"""Answer a plain S3 GetObject before moto's Flask app sees it, with the answer moto would give.

moto's server spends ~1.5 ms of CPU on each GetObject: a new connection and thread (werkzeug
closes every connection after one answer), its WSGI environ, Flask's request context, CORS,
the request recorder's check, moto's generic request set-up (body, form and querystring
parsing, region and account lookup, URL parsing three times over), its dispatch, and the
answer's building. `report` reads 20,000 records at 100,000 jobs: that was half its time.

`handling(run_wsgi)` is the server's request handler's run_wsgi: for a GetObject answer()
serves, it writes the answer itself (status line, Server and Date, the log line, as werkzeug
writes them) and leaves the connection open for the client's next request (HTTP/1.1's
default; a request that asks to close, or HTTP/1.0, gets Connection: close). Every other
request goes to werkzeug and moto unchanged, and werkzeug closes the connection after it.

`answer(environ)` serves the one common case, taking moto's own steps for it: the account
from the access key (moto's get_account_id_from; the key marked as used, as moto does), the
auth counter moto keeps while authentication is off, the bucket policy's verdict (moto's
get_permission), moto's backend get_object, the key's own headers (response_dict, metadata),
the checksum headers botocore asks for, moto's _send_response (request id, content type) and
the CORS header Flask-CORS adds. Anything else returns None and goes to moto: another method,
a query string (versionId, partNumber, acl...), a request header outside PLAIN_HEADERS (Range,
If-*, SSE-C, Origin...), a host moto could read as a virtual-hosted bucket, a path needing
unquoting, authentication or the request recorder on, a bucket whose policy denies the read
or that logs requests, a missing key, an archived or empty object.

fast_s3 installs it with its hash guard; tests/test_fast_s3.py compares its answers with
moto's, header for header and byte for byte.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from moto import settings
from moto.core import utils
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import BaseResponse
from moto.iam import models as iam
from moto.iam.access_control import PermissionResult
from moto.iam.models import get_account_id_from, mark_account_as_visited
from moto.moto_api import recorder
from moto.moto_api._internal.recorder.models import Recorder
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from moto.s3 import models
from moto.s3.models import ARCHIVE_STORAGE_CLASSES, FakeBucket, FakeKey, s3_backends
from moto.s3.responses import S3Response
from moto.utilities.utils import get_partition
from werkzeug.serving import WSGIRequestHandler

# sha256 (first 16 hex digits) of the source of each moto function whose steps answer() takes or skips.
PINNED_SOURCES: dict[tuple[Any, str], str] = {
    (WSGIRequestHandler, "run_wsgi"): "774df60c75afd439",
    (MotoRequestHandler, "make_environ"): "42a8722acc21894a",
    (DomainDispatcherApplication, "__call__"): "7b12179deceda48d",
    (DomainDispatcherApplication, "get_application"): "0ff6939685bde917",
    (utils.convert_to_flask_response, "__call__"): "2c82766d05909ebb",
    (BaseResponse, "setup_class"): "0650e29fa512aad1",
    (BaseResponse, "get_current_account"): "73816bc147411960",
    (BaseResponse, "get_region_from_url"): "f26e68bd6df666c3",  # S3Response.backend's partition
    (Recorder, "_record_request"): "c784770ea320915b",  # its _user_enabled
    (BaseResponse, "_enrich_response"): "86cd4a4051dd20e8",
    (ActionAuthenticatorMixin, "_authenticate_and_authorize_action"): "f8cfc0296ca017fa",
    (iam, "mark_account_as_visited"): "78dddadabbaf9328",
    (S3Response, "subdomain_based_buckets"): "52aeed51c94b265a",
    (S3Response, "key_response"): "482dd528b49e0359",
    (S3Response, "_key_response"): "eb67586ff76b3d9c",
    (S3Response, "_key_response_get"): "ee432d6a706f4276",
    (S3Response, "get_object"): "a7494eeca899290c",
    (S3Response, "_get_key"): "f196655b011dc07a",
    (S3Response, "_send_response"): "1637e0b7d5eef536",
    (models.S3Backend, "get_object"): "3dd7bfecd0befeeb",
}

# Request headers a plain GetObject from botocore carries; any other sends the request to moto.
PLAIN_HEADERS = frozenset(
    {
        "HTTP_HOST",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_AUTHORIZATION",
        "HTTP_X_AMZ_DATE",
        "HTTP_X_AMZ_CONTENT_SHA256",
        "HTTP_X_AMZ_CHECKSUM_MODE",  # botocore asks for the checksum on every GetObject
        "HTTP_X_AMZ_SECURITY_TOKEN",
        "HTTP_AMZ_SDK_INVOCATION_ID",
        "HTTP_AMZ_SDK_REQUEST",
        "HTTP_CONNECTION",
    }
)
# /bucket/key with nothing to unquote (a bucket name is lower case, digits, dots and dashes).
PLAIN_PATH = re.compile(r"/([a-z0-9][a-z0-9.-]*)/([A-Za-z0-9._~/-]+)")
LOOPBACK = re.compile(r"(127\.0\.0\.1|localhost)(:\d+)?")  # moto reads the bucket from the path
CREDENTIAL = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/\d{8}/([a-z0-9-]+)/s3/aws4_request,")
DENIED = PermissionResult.DENIED
CORS = ("Access-Control-Allow-Origin", "*")  # Flask-CORS's header on every answer of moto's app


def answer(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The WSGI status, headers and body of this GetObject, or None when moto must answer it."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
        return None
    path = PLAIN_PATH.fullmatch(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    credential = CREDENTIAL.match(environ.get("HTTP_AUTHORIZATION", ""))
    if path is None or credential is None or path.group(1) in ("moto-api", "latest"):
        return None
    if not LOOPBACK.fullmatch(environ.get("HTTP_HOST", "")) or "region/" in environ.get("HTTP_USER_AGENT", ""):
        return None
    if any(name.startswith("HTTP_") and name not in PLAIN_HEADERS for name in environ):
        return None
    if recorder._user_enabled or ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return None
    access_key, region = credential.groups()
    account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(access_key)
    mark_account_as_visited(account_id=account, access_key=access_key, service="s3", region=region)
    backend = s3_backends[account][get_partition(region)]
    bucket_name, key_name = path.groups()
    bucket = backend.buckets.get(bucket_name)
    if type(bucket) is not FakeBucket or bucket.logging:
        return None
    if bucket.get_permission("s3:GetObject", f"arn:{bucket.partition}:s3:::{bucket_name}/{key_name}") == DENIED:
        return None  # moto's 403, from its own answer
    key = backend.get_object(bucket_name, key_name)
    if not isinstance(key, FakeKey) or key.storage_class in ARCHIVE_STORAGE_CLASSES or not key.size:
        return None
    ActionAuthenticatorMixin.request_count += 1
    headers: dict[str, Any] = {}
    if key.version_id != "null":
        headers["x-amz-version-id"] = key.version_id
    headers.update(key.response_dict)
    if environ.get("HTTP_X_AMZ_CHECKSUM_MODE") == "ENABLED" and key.checksum_algorithm:
        composite = key.checksum_type == "COMPOSITE"
        checksum = f"{key.checksum_value}-{key.checksum_parts}" if composite else key.checksum_value
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = checksum
        if key.checksum_type:
            headers["x-amz-checksum-type"] = key.checksum_type
    headers.update(key.metadata)
    headers["Accept-Ranges"] = "bytes"
    status, headers, body = S3Response._send_response((200, headers, key.value))
    return f"{status} OK", [*((k, str(v)) for k, v in headers.items()), CORS], body


def request_environ(handler: Any) -> dict[str, Any] | None:
    """What answer() reads of a request, from the HTTP handler; None for a header it cannot name safely."""
    environ = {"REQUEST_METHOD": handler.command, "QUERY_STRING": "", "RAW_URI": handler.path}
    for name, value in handler.headers.items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if "_" in name or key in environ:  # werkzeug and moto treat these specially: moto decides
            return None
        environ[key] = value
    return environ


def handling(run_wsgi: Any) -> Any:
    """The server's request handler's run_wsgi, answering plain GetObjects itself and keeping the
    connection open after them (werkzeug closes every connection: a TCP set-up per read)."""

    def fast_run_wsgi(self: Any) -> None:
        environ = request_environ(self)
        found = answer(environ) if environ is not None else None
        if found is None:
            return run_wsgi(self)
        status, headers, body = found
        code, message = status.split(None, 1)
        self.send_response(int(code), message)  # werkzeug's way: status line, Server, Date, the log line
        for key, value in headers:
            self.send_header(key, value)
        if self.request_version != "HTTP/1.1" or self.headers.get("Connection", "").lower() == "close":
            self.send_header("Connection", "close")  # and http.server closes after this answer
        self.end_headers()
        # The body follows the headers in a second packet: on a connection kept open, Nagle's algorithm
        # would hold it until the client's delayed ACK of the first (40 ms per read).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wfile.write(body)
        return None

    return fast_run_wsgi
