"""The verifier's key cache against a real authapi that rotates its key: the previous
key's tokens still pass, the new `kid` costs exactly one refetch however many requests
bring it at once, made-up kids cost at most one fetch per cooldown, and with authapi
down the keys already known keep verifying.

The fetches are counted with an httpx event hook on the verifier's own client: every
request it sends reaches the real authapi.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
from authapi_verifier import Claims, JwksUnavailable, TokenInvalid, Verifier

from authapi.keys import generate_pem
from clients.verifier_support import FetchCounter, sign_es256, unverified
from servers import authapi_server, free_port
from support import STRONG_PASSWORD, run_coroutine, unique_email

pytestmark = pytest.mark.slow

COOLDOWN = 3.0
SETTINGS = {"JWT_ALGORITHM": "ES256", "RATE_LIMIT_AUTH": "1000/minute"}


def key_file(workdir: Path) -> Path:
    path = workdir / f"signing-{uuid.uuid4().hex[:8]}.pem"
    path.write_bytes(generate_pem("ES256"))
    return path


def kid_of(token: str) -> str:
    kid: str = unverified(token)[0]["kid"]
    return kid


async def verify_all(verifier: Verifier, tokens: list[str]) -> list[Claims | BaseException]:
    """The tokens verified concurrently, as requests arriving together would be."""
    return await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)


@pytest.fixture
def counter() -> FetchCounter:
    return FetchCounter()


def test_rotation_costs_one_refetch_and_made_up_kids_no_storm(
    tmp_path: Path, counter: FetchCounter
) -> None:
    old_key, new_key = key_file(tmp_path), key_file(tmp_path)
    port = free_port()
    email = unique_email("rotation")
    stranger = generate_pem("ES256")

    async def scenario() -> None:
        http = httpx.AsyncClient(event_hooks={"request": [counter]}, timeout=5)
        verifier = Verifier(
            jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json",
            jwks_refetch_cooldown_seconds=COOLDOWN,
            http_client=http,
        )
        # -- authapi with the old key: the first token fetches the set, once -----
        with authapi_server(tmp_path, port=port, JWT_PRIVATE_KEY_FILE=str(old_key), **SETTINGS):
            old_token = await signup(port, email)
            assert all(isinstance(r, Claims) for r in await verify_all(verifier, [old_token] * 5))
            assert counter.count() == 1
            fetched_at = time.monotonic()
            await verifier.verify(old_token)
            assert counter.count() == 1  # cached

        # -- restarted with a new key, the old one retired -----------------------
        with authapi_server(
            tmp_path,
            port=port,
            JWT_PRIVATE_KEY_FILE=str(new_key),
            JWT_PREVIOUS_KEYS=str(old_key),
            **SETTINGS,
        ):
            new_token = await login(port, email)
            assert kid_of(new_token) != kid_of(old_token)
            # A refetch right after a fetch waits out the cooldown (see the docs).
            await asyncio.sleep(max(0.0, COOLDOWN - (time.monotonic() - fetched_at)))

            # Twenty requests bring the unknown kid at once: one refetch for all.
            results = await verify_all(verifier, [new_token] * 20)
            assert all(isinstance(r, Claims) for r in results), results
            assert counter.count() == 2
            # The previous key's token is still accepted, from the refetched set.
            assert (await verifier.verify(old_token)).sub == (await verifier.verify(new_token)).sub
            assert counter.count() == 2

            # Made-up kids within the cooldown: refused, and not one fetch.
            made_up = [sign_es256(claims_of(new_token), stranger, f"fake-{n}") for n in range(50)]
            results = await verify_all(verifier, made_up)
            assert all(isinstance(r, TokenInvalid) for r in results), results
            assert counter.count() == 2

            # Past the cooldown, a storm of them costs one fetch, not fifty.
            await asyncio.sleep(COOLDOWN)
            results = await verify_all(verifier, made_up)
            assert all(isinstance(r, TokenInvalid) for r in results), results
            for token in made_up[:10]:
                with pytest.raises(TokenInvalid):
                    await verifier.verify(token)
            assert counter.count() == 3

        # -- authapi down: the keys known keep verifying (stale-if-error) ---------
        await asyncio.sleep(COOLDOWN)
        assert (await verifier.verify(new_token)).sid == claims_of(new_token)["sid"]
        assert (await verifier.verify(old_token)).sid == claims_of(old_token)["sid"]
        unknown = sign_es256(claims_of(new_token), stranger, "fake-while-down")
        with pytest.raises(JwksUnavailable):
            await verifier.verify(unknown)
        fetches = counter.count()
        assert fetches == 4  # the one failed attempt
        for _ in range(10):  # within the cooldown: 503 again, without an attempt
            with pytest.raises(JwksUnavailable):
                await verifier.verify(unknown)
        assert counter.count() == fetches
        await http.aclose()

    run_coroutine(scenario())


def test_a_fresh_verifier_accepts_the_previous_keys_token_and_fetches_once(
    tmp_path: Path, counter: FetchCounter
) -> None:
    old_key, new_key = key_file(tmp_path), key_file(tmp_path)
    port = free_port()
    email = unique_email("fresh")

    async def scenario() -> None:
        with authapi_server(tmp_path, port=port, JWT_PRIVATE_KEY_FILE=str(old_key), **SETTINGS):
            old_token = await signup(port, email)
        with authapi_server(
            tmp_path,
            port=port,
            JWT_PRIVATE_KEY_FILE=str(new_key),
            JWT_PREVIOUS_KEYS=str(old_key),
            **SETTINGS,
        ):
            new_token = await login(port, email)
            async with httpx.AsyncClient(event_hooks={"request": [counter]}) as http:
                verifier = Verifier(
                    jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json", http_client=http
                )
                # An empty cache and thirty requests at once, of both keys: one fetch.
                results = await verify_all(verifier, [old_token, new_token] * 15)
                assert all(isinstance(r, Claims) for r in results), results
                assert counter.count() == 1

    run_coroutine(scenario())


def claims_of(token: str) -> dict[str, object]:
    return unverified(token)[1]


async def signup(port: int, email: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        response = await client.post(
            "/auth/signup", json={"email": email, "password": STRONG_PASSWORD}
        )
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


async def login(port: int, email: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        response = await client.post(
            "/auth/login", json={"email": email, "password": STRONG_PASSWORD}
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
