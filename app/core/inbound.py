"""What every request body and URL goes through before a route sees it.

The JSON decoder refuses what would crash later (nesting past the interpreter's recursion
limit, integers of thousands of digits) with a 400; URL parameters refuse NUL and integers
past a database column with a 404, as any unknown id. Text and numbers inside a JSON body
are checked once, by the base schema (``app.core.schemas``) with ``sync.checks``.
"""

from __future__ import annotations

import json
import typing

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, UnicodeConverter

from app.core.proxies import TrustedProxies, parse_networks

# PostgreSQL ``integer``: the widest id a URL names.
MAX_URL_INT = 2**31 - 1


class BodyTooHostile(json.JSONDecodeError):
    """A body that parses in theory but not in this process (too deep, too long a number)."""

    def __init__(self, error: Exception, doc: str) -> None:
        super().__init__(f"the JSON body cannot be read: {_reason(error)}", doc or " ", 0)


def _reason(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error).split(";")[0]


def loads_json(text: str | bytes, **kwargs: typing.Any) -> typing.Any:
    """``json.loads`` whose every failure is a ``ValueError`` (a 400, never a 500)."""
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as error:
        doc = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        raise BodyTooHostile(error, doc[:100]) from None


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, decoding through ``loads_json`` (``request.get_json``)."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: typing.Any) -> typing.Any:
        return loads_json(s, **kwargs)


class Parser(FlaskParser):
    """webargs' parser of flask-smorest, decoding bodies through ``loads_json``."""

    def _raw_load_json(self, req):  # the webargs hook for decoding a JSON body
        raw = super()._raw_load_json
        try:
            return raw(req)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as error:
            raise BodyTooHostile(error, " ") from None


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint with the parser above: every route module uses this one."""

    ARGUMENTS_PARSER = Parser()


class BoundedRequest(Request):
    """A request whose body, sent chunked (no Content-Length), is refused past the limit
    with a 413 as a declared length is; werkzeug would silently cut it at the limit."""

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        data = super().get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)
        limit = self.max_content_length
        if self.content_length is None and limit is not None and len(data) >= limit:
            rest = self.environ["wsgi.input"].read(1)
            if rest:
                raise RequestEntityTooLarge(f"the body is over {limit} bytes")
        return data


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` up to PostgreSQL's ``integer``: a larger id is unknown (404), not a 500."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_URL_INT)
        super().__init__(map, *args, **kwargs)


class TextConverter(UnicodeConverter):
    """``<string:…>`` (the default) without NUL, which no text column can hold."""

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")


def init_inbound(app: Flask) -> None:
    """Install the decoder and the URL converters; before any blueprint is registered.

    ``X-Forwarded-*`` is believed only from a direct peer in ``TRUSTED_PROXIES`` (the
    reverse proxies' addresses, ``app.core.proxies``); empty, the headers are ignored, so
    nobody can choose the address the login throttle counts.
    """
    networks = parse_networks(app.config.get("TRUSTED_PROXIES", ""))
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)
    app.json = JSONProvider(app)
    app.request_class = BoundedRequest
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.url_map.converters["default"] = TextConverter
    app.url_map.converters["string"] = TextConverter
