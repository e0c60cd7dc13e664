"""The tus PATCH body read straight from gunicorn's socket (app.photos.body)."""

from __future__ import annotations

import io
import os
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import ClientDisconnected

from app.photos.body import socket_body


def _environ(length: int, sent: bytes, already_buffered: int):
    ours, theirs = socket.socketpair()
    unreader = SocketUnreader(ours)
    # gunicorn read the headers and, with them, the start of the body.
    theirs.sendall(sent[:already_buffered])
    unreader.unread(ours.recv(already_buffered, socket.MSG_WAITALL))
    # The rest arrives while the body is read (more than a socket buffer holds).
    if sent[already_buffered:]:
        rest = sent[already_buffered:]
        threading.Thread(target=theirs.sendall, args=(rest,), daemon=True).start()
    body = Body(LengthReader(unreader, length))
    return {"wsgi.input": body, "gunicorn.socket": ours}, unreader, theirs


def test_reads_exactly_the_body_and_leaves_the_next_request_to_gunicorn():
    data = os.urandom(300_000)
    following = b"HEAD /next HTTP/1.1\r\n\r\n"
    environ, unreader, theirs = _environ(len(data), data + following, 5000)

    reader = socket_body(environ)
    assert reader is not None
    received = b""
    while piece := reader.read(64 * 1024):
        received += piece

    assert received == data
    assert environ["wsgi.input"].read() == b""  # gunicorn sees the body consumed
    assert unreader.read(len(following)) == following
    theirs.close()


def test_the_whole_body_already_buffered_with_the_next_request_behind_it():
    data, following = b"x" * 1000, b"GET / HTTP/1.1\r\n\r\n"
    environ, unreader, theirs = _environ(len(data), data + following, len(data) + len(following))

    reader = socket_body(environ)
    assert reader.read(10_000) == data
    assert reader.read(10_000) == b""
    assert unreader.read(len(following)) == following
    theirs.close()


def test_a_client_hanging_up_mid_body_is_a_disconnect_after_the_bytes_that_came():
    data = os.urandom(100_000)
    environ, _, theirs = _environ(200_000, data, 1000)

    reader = socket_body(environ)
    received = b""
    with pytest.raises(ClientDisconnected):
        while True:
            received += reader.read(64 * 1024)
            if len(received) == len(data):
                theirs.close()
    assert received == data


def test_other_servers_and_bodies_get_none():
    assert socket_body({"wsgi.input": io.BytesIO(b"abc")}) is None
    ours, theirs = socket.socketpair()
    unreader = SocketUnreader(ours)
    started = Body(LengthReader(unreader, 3))
    started.buf.write(b"a")  # the application already read part of it
    assert socket_body({"wsgi.input": started, "gunicorn.socket": ours}) is None
    ours.close()
    theirs.close()
