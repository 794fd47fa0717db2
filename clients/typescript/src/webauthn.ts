// The browser's half of a passkey ceremony. authapi speaks WebAuthn's JSON forms, so
// its options go through PublicKeyCredential.parse...FromJSON and the credential goes
// back as credential.toJSON(): no base64url code of ours (Chrome 129, Firefox 119,
// Safari 18.4 and later have both).
import { AuthError, clientError } from "./errors.js";

export interface PasskeyPromptOptions {
  /** "conditional" offers the passkeys in the autofill of an `autocomplete="webauthn"` field. */
  mediation?: CredentialMediationRequirement;
  /** Aborts the browser's prompt (e.g. a conditional one, before a password login). */
  signal?: AbortSignal;
}

type Json = Record<string, unknown>;

function webauthn(): typeof PublicKeyCredential {
  const api = (globalThis as { PublicKeyCredential?: typeof PublicKeyCredential }).PublicKeyCredential;
  if (!api?.parseCreationOptionsFromJSON || !(globalThis as { navigator?: Navigator }).navigator?.credentials) {
    throw clientError(
      "passkey_unsupported",
      "This browser has no WebAuthn JSON support (PublicKeyCredential.parseCreationOptionsFromJSON).",
    );
  }
  return api;
}

/** Throws AuthError `passkey_unsupported` now, before any request is made. */
export function assertPasskeySupport(): void {
  webauthn();
}

// The browser's refusals (NotAllowedError: cancelled or timed out; InvalidStateError:
// this authenticator is registered already; SecurityError: wrong RP ID) become one
// AuthError, the DOMException kept as `cause`.
async function browserStep(step: () => Promise<Credential | null>): Promise<Json> {
  let credential: Credential | null;
  try {
    credential = await step();
  } catch (error) {
    if (error instanceof AuthError) throw error;
    const name = (error as Error)?.name || "Error";
    throw clientError("passkey_failed", `The browser refused the passkey step (${name}).`, error);
  }
  if (!credential) throw clientError("passkey_failed", "The browser returned no credential.");
  return (credential as PublicKeyCredential).toJSON() as Json;
}

export function createCredential(options: Json): Promise<Json> {
  const api = webauthn();
  return browserStep(() =>
    navigator.credentials.create({
      publicKey: api.parseCreationOptionsFromJSON(options as unknown as PublicKeyCredentialCreationOptionsJSON),
    }),
  );
}

export function getCredential(options: Json, prompt: PasskeyPromptOptions = {}): Promise<Json> {
  const api = webauthn();
  return browserStep(() =>
    navigator.credentials.get({
      publicKey: api.parseRequestOptionsFromJSON(options as unknown as PublicKeyCredentialRequestOptionsJSON),
      mediation: prompt.mediation,
      signal: prompt.signal,
    }),
  );
}
