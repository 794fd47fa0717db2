"""A real OpenID Connect provider for the tests: panva's oidc-provider under Node.js.

`NodeOidcProvider` starts `oidc_provider/provider.mjs` on a free loopback port with one
registered confidential client (client_secret_basic, authorization code, PKCE S256, RS256
ID tokens). `sign_in` plays the browser through the provider's development login and consent
pages over HTTP; the login name typed there is the account:

- ``alice@example.com``: sub ``alice@example.com``, email verified, name ``alice``;
- ``unverified:bob@example.com``: sub is the whole login, email ``bob@example.com`` not verified;
- ``carol``: no email claims at all.

The Node dependencies come from ``npm ci`` in ``oidc_provider/``; tests skip when they are absent
(see `installed`).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import urljoin, urlsplit

import httpx

from servers import free_port

NODE_DIR = Path(__file__).parent / "oidc_provider"
START_TIMEOUT = 20.0
# Any password passes the development login form; it only has to be non-empty.
DEV_PASSWORD = "any-password"
_MAX_STEPS = 20


def installed() -> bool:
    """Whether `npm ci` has been run in oidc_provider/ (and node is on PATH)."""
    return (NODE_DIR / "node_modules" / "oidc-provider").is_dir() and shutil.which(
        "node"
    ) is not None


class NodeOidcProvider:
    """``with NodeOidcProvider(client_id, secret, [redirect_uri]) as op: op.issuer``."""

    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.port = 0
        self.issuer = ""
        self._process: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []
        self._stdout: queue.Queue[str | None] = queue.Queue()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def stderr(self) -> str:
        """What the provider wrote to stderr so far (its errors, server_error events)."""
        return "".join(self._stderr)

    def __enter__(self) -> Self:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH")
        self.port = free_port()
        env = {
            **os.environ,
            "PORT": str(self.port),
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "REDIRECT_URIS": ",".join(self.redirect_uris),
        }
        self._process = subprocess.Popen(
            [node, "provider.mjs"],
            cwd=NODE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        assert self._process.stderr is not None
        _drain(self._process.stdout, self._stdout.put, lambda: self._stdout.put(None))
        _drain(self._process.stderr, self._stderr.append, lambda: None)
        try:
            self.issuer = self._wait_listening()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _wait_listening(self) -> str:
        try:
            while True:
                line = self._stdout.get(timeout=START_TIMEOUT)
                if line is None:
                    break
                if line.startswith("listening "):
                    return line.split(" ", 1)[1].strip()
        except queue.Empty:
            pass
        assert self._process is not None
        state = "exited" if self._process.poll() is not None else "did not start"
        raise RuntimeError(
            f"oidc-provider {state} within {START_TIMEOUT:.0f} s (rc={self._process.poll()}); "
            f"stderr:\n{self.stderr}"
        )


def _drain(stream: IO[str], sink: Callable[[str], None], at_end: Callable[[], None]) -> None:
    """Read a pipe to its end on a daemon thread, so the child never blocks on a full pipe."""

    def run() -> None:
        for line in stream:
            sink(line)
        at_end()

    threading.Thread(target=run, daemon=True).start()


class _Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}


class _PageParser(HTMLParser):
    """The forms (action, method, named inputs) and the links of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._form: _Form | None = None
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = _Form(attributes.get("action", ""), attributes.get("method", "get"))
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attributes.get("name"):
            self._form.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "a" and "href" in attributes:
            self._href = attributes["href"]
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _follow(
    client: httpx.Client, request: httpx.Request, origin: tuple[str, str]
) -> httpx.Response:
    """Send, then follow redirects by hand while they stay on the provider's origin.

    Returns the first response that is not a redirect, or the redirect that leaves the origin.
    """
    for _ in range(_MAX_STEPS):
        response = client.send(request, follow_redirects=False)
        if not response.is_redirect:
            return response
        target = urljoin(str(response.url), response.headers["location"])
        if _origin(target) != origin:
            return response
        request = client.build_request("GET", target)
    raise RuntimeError(f"more than {_MAX_STEPS} redirects on the provider")


def _leaving(response: httpx.Response, origin: tuple[str, str]) -> str | None:
    if response.is_redirect:
        target = urljoin(str(response.url), response.headers["location"])
        if _origin(target) != origin:
            return target
    return None


def _page(response: httpx.Response) -> _PageParser:
    if response.status_code != 200 or "html" not in response.headers.get("content-type", ""):
        raise RuntimeError(
            f"unexpected provider response {response.status_code} at {response.url}:\n"
            f"{response.text[:2000]}"
        )
    parser = _PageParser()
    parser.feed(response.text)
    return parser


def sign_in(client: httpx.Client, authorize_url: str, login: str) -> str:
    """Sign in at the provider as ``login`` and consent; return the redirect back to the RP.

    ``authorize_url`` is the provider's authorization URL a relying party sent the browser to.
    ``client`` keeps the provider's cookies (a returning user skips the login page). The result is
    the URL the provider redirects to outside its own origin: the client's redirect_uri with
    ``code`` and ``state`` (or ``error``) in the query.
    """
    origin = _origin(authorize_url)
    response = _follow(client, client.build_request("GET", authorize_url), origin)
    for _ in range(_MAX_STEPS):
        target = _leaving(response, origin)
        if target is not None:
            return target
        page = _page(response)
        form = next((f for f in page.forms if f.method.lower() == "post"), None)
        if form is None:
            raise RuntimeError(
                f"no form on the provider page {response.url}:\n{response.text[:2000]}"
            )
        action = urljoin(str(response.url), form.action)
        if _origin(action) != origin:
            # response_mode=form_post: the auto-submitting form to the RP is not followed here.
            raise RuntimeError(f"the provider posts back to {action}; use a query response mode")
        fields = dict(form.fields)
        if fields.get("prompt") == "login" or "login" in fields:
            fields["login"] = login
            fields["password"] = DEV_PASSWORD
        response = _follow(client, client.build_request("POST", action, data=fields), origin)
    raise RuntimeError(f"sign-in did not finish within {_MAX_STEPS} pages")


def deny(client: httpx.Client, authorize_url: str) -> str:
    """Open the provider's sign-in page and press its "[ Cancel ]" link.

    Returns the redirect back to the RP, which carries ``error=access_denied`` and the state.
    """
    origin = _origin(authorize_url)
    response = _follow(client, client.build_request("GET", authorize_url), origin)
    target = _leaving(response, origin)
    if target is not None:
        raise RuntimeError(f"the provider redirected back without asking: {target}")
    page = _page(response)
    href = next((h for h, text in page.links if "cancel" in text.lower() or "abort" in h), None)
    if href is None:
        raise RuntimeError(f"no cancel link on the provider page {response.url}")
    response = _follow(
        client, client.build_request("GET", urljoin(str(response.url), href)), origin
    )
    target = _leaving(response, origin)
    if target is None:
        raise RuntimeError(
            f"cancel did not redirect back: {response.status_code} at {response.url}:\n"
            f"{response.text[:2000]}"
        )
    return target
