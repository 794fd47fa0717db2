import { AuthClient, type AuthClientOptions, type Session } from "../../src/index.js";

export const PASSWORD = "Correct7Horse!";

let counter = 0;

/** An address no other test uses (each run's database is new, but tests share it). */
export function uniqueEmail(label: string): string {
  counter += 1;
  return `${label}-${counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

/** A client signed up as a new user, and that user's session. */
export async function signedUp(
  options: AuthClientOptions,
  label = "user",
): Promise<{ client: AuthClient; email: string; session: Session }> {
  const client = new AuthClient(options);
  const email = uniqueEmail(label);
  const result = await client.signup({ email, password: PASSWORD });
  if (result.kind !== "session") throw new Error(`signup answered ${result.kind}`);
  return { client, email, session: result.session };
}
