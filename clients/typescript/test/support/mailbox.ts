// An SMTP server that keeps what authapi sends (MAIL_URL=smtp://127.0.0.1:<port>),
// so that a test can read the sign-in link and code out of a real mail.
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface Mail {
  to: string[];
  subject: string;
  text: string;
}

export interface Mailbox {
  port: number;
  url: string;
  /** The first mail to `to` (whose text matches `pattern`, if given), waiting for it. */
  waitFor(to: string, pattern?: RegExp, timeoutMs?: number): Promise<Mail>;
  stop(): Promise<void>;
}

// Python's email package writes long lines as quoted-printable, others as base64.
function decodeBody(body: string, encoding: string): string {
  if (encoding === "base64") return Buffer.from(body, "base64").toString("utf8");
  if (encoding === "quoted-printable") {
    const text = body.replace(/=\r?\n/g, ""); // soft line breaks
    const bytes: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const hex = text.slice(i + 1, i + 3);
      if (text[i] === "=" && /^[0-9A-F]{2}$/i.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(text[i] ?? ""));
      }
    }
    return Buffer.from(bytes).toString("utf8");
  }
  return body;
}

function parse(raw: string, to: string[]): Mail {
  const cut = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, cut).replace(/\r\n[ \t]+/g, " ");
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "im").exec(head)?.[1]?.trim() ?? "";
  const body = raw.slice(cut + 4);
  return { to, subject: header("Subject"), text: decodeBody(body, header("Content-Transfer-Encoding").toLowerCase()) };
}

export async function startMailbox(): Promise<Mailbox> {
  const mails: Mail[] = [];
  const waiting = new Set<() => void>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
        mails.push(parse(Buffer.concat(chunks).toString("utf8"), to));
        for (const wake of waiting) wake();
        callback();
      });
    },
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.server.address() as AddressInfo).port;

  function waitFor(to: string, pattern?: RegExp, timeoutMs = 15_000): Promise<Mail> {
    const find = () => mails.find((mail) => mail.to.includes(to.toLowerCase()) && (!pattern || pattern.test(mail.text)));
    return new Promise((done, fail) => {
      const check = () => {
        const mail = find();
        if (!mail) return;
        clearTimeout(timer);
        waiting.delete(check);
        done(mail);
      };
      const timer = setTimeout(() => {
        waiting.delete(check);
        fail(new Error(`no mail to ${to} within ${timeoutMs} ms (${mails.length} mails arrived)`));
      }, timeoutMs);
      waiting.add(check);
      check();
    });
  }

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    waitFor,
    stop: () => new Promise<void>((done) => server.close(() => done())),
  };
}
